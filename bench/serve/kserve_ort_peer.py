"""The peer for `keel serve`: the kserve SDK's model server wrapping ONNX Runtime, as a Python
user would deploy a model with KServe's Python runtime. Speaks the same v2 protocol.

    python kserve_ort_peer.py MODEL.onnx --name m --http-port P --threads T
"""
import argparse
import sys
import uuid

import numpy as np
import onnxruntime as ort

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--name", required=True)
ap.add_argument("--http-port", type=int, required=True)
ap.add_argument("--threads", type=int, default=2)
args, _ = ap.parse_known_args()
sys.argv = sys.argv[:1]  # kserve parses the command line at import

from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer  # noqa: E402


class OrtModel(Model):
    def __init__(self, name, path, threads):
        super().__init__(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.ready = True

    def predict(self, payload: InferRequest, headers=None, response_headers=None):
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        outputs = []
        for name, y in zip(self.output_names, self.session.run(None, feeds)):
            out = InferOutput(name=name, shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(np.ascontiguousarray(y), binary_data=False)
            outputs.append(out)
        return InferResponse(model_name=self.name, infer_outputs=outputs, response_id=payload.id or str(uuid.uuid4()))


if __name__ == "__main__":
    ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start(
        [OrtModel(args.name, args.model, args.threads)])
