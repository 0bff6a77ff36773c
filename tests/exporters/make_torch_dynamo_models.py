#!/usr/bin/env python3
"""Writes models with PyTorch's newest exporter (torch.onnx.export(..., dynamo=True), at its
default opset), each as a keel model folder (model.onnx, inputs/*.npy, outputs_f64/*.npy) for
`keel run`: a CNN (Conv, BatchNorm in eval mode, ReLU, residual add, pooling, Linear), exported
with and without the exporter's graph optimizer, and a transformer encoder layer (nn.TransformerEncoderLayer: attention, LayerNorm, GELU). The float64
references come from the same torch modules in float64 on the same inputs.

    python tests/exporters/make_torch_dynamo_models.py OUT_DIR
"""
import pathlib
import sys
import warnings

import numpy as np
import onnx
import torch
from torch import nn

torch.manual_seed(13)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(16), nn.ReLU(),
                                   nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
        self.head = nn.Linear(16, 7)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def randomize_batchnorms(model):
    """Random statistics, so folding a BatchNorm wrongly changes the numbers."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.2)
    return model


# name: (module, input shapes, run the exporter's graph optimizer). The exporter's optimizer
# folds BatchNorm into Conv itself; without it (optimize=False) the BatchNormalizations stay
# for keel to fold.
CASES = {
    "torch_dynamo_cnn": (lambda: randomize_batchnorms(Cnn()), {"input": (1, 3, 32, 32)}, True),
    "torch_dynamo_cnn_unoptimized": (lambda: randomize_batchnorms(Cnn()),
                                     {"input": (1, 3, 32, 32)}, False),
    "torch_dynamo_transformer": (
        lambda: nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0,
                                           activation="gelu", batch_first=True),
        {"input": (2, 10, 32)}, True),
}


def main(out):
    out = pathlib.Path(out)
    for name, (make, shapes, optimize) in CASES.items():
        model = make().eval()
        inputs = {k: torch.randn(*s) for k, s in shapes.items()}
        d = out / name
        (d / "inputs").mkdir(parents=True, exist_ok=True)
        (d / "outputs_f64").mkdir(exist_ok=True)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, tuple(inputs.values()), dynamo=True,
                                        optimize=optimize, input_names=list(inputs),
                                        output_names=["output"])
        program.save(str(d / "model.onnx"))
        for k, v in inputs.items():
            np.save(d / "inputs" / f"{k}.npy", v.numpy())
        with torch.no_grad():
            ref = model.double()(*(v.double() for v in inputs.values()))
        np.save(d / "outputs_f64" / "output.npy", ref.numpy())
        m = onnx.load(d / "model.onnx")
        opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        bns = sum(n.op_type == "BatchNormalization" for n in m.graph.node)
        if name == "torch_dynamo_cnn_unoptimized" and bns != 3:
            raise SystemExit(f"{name}: expected the CNN's 3 BatchNormalization nodes, found {bns}")
        print(f"{d}: IR {m.ir_version}, opset {opset}, {len(m.graph.node)} nodes, "
              f"{bns} BatchNormalization, torch {torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
