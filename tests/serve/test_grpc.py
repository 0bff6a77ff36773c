"""gRPC (inference.GRPCInferenceService) with tritonclient.grpc and with the raw stubs it ships."""

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

import serve_util as su
from serve_util import DTYPE_MODELS


@pytest.fixture
def client(server):
    c = grpcclient.InferenceServerClient(url=server.grpc_addr)
    yield c
    c.close()


@pytest.fixture
def stub(server):
    channel = grpc.insecure_channel(server.grpc_addr)
    yield service_pb2_grpc.GRPCInferenceServiceStub(channel)
    channel.close()


def _dims(values):
    return [int(v) for v in values]


def test_grpc_server_live_ready(client):
    assert client.is_server_live()
    assert client.is_server_ready()


def test_grpc_model_ready(client):
    assert client.is_model_ready("resnet")
    assert client.is_model_ready("resnet", "1")


def test_grpc_model_ready_of_unknown_model_is_false_or_not_found(stub):
    try:
        resp = stub.ModelReady(service_pb2.ModelReadyRequest(name="no_such_model"), timeout=10)
        assert resp.ready is False
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e


def test_grpc_server_metadata(client):
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "keel"
    assert meta.get("version")
    assert "statistics" not in meta.get("extensions", [])


def test_grpc_model_metadata(client):
    m = client.get_model_metadata("resnet", as_json=True)
    assert m["name"] == "resnet"
    assert "1" in m["versions"]
    assert m["platform"] in ("onnxruntime_onnx", "keel_onnx")
    assert m["inputs"][0]["name"] == "input" and m["inputs"][0]["datatype"] == "FP32"
    assert _dims(m["inputs"][0]["shape"]) == [-1, 3, 64, 64]
    assert m["outputs"][0]["name"] == "output" and _dims(m["outputs"][0]["shape"]) == [-1, 10]


def test_grpc_model_config(client):
    c = client.get_model_config("resnet", as_json=True)["config"]
    assert c["name"] == "resnet"
    assert int(c["max_batch_size"]) == 8
    assert c["input"][0]["name"] == "input"
    assert c["input"][0]["data_type"] == "TYPE_FP32"
    assert _dims(c["input"][0]["dims"]) == [3, 64, 64]
    assert c["output"][0]["data_type"] == "TYPE_FP32"
    assert _dims(c["output"][0]["dims"]) == [10]
    assert int(c["dynamic_batching"]["max_queue_delay_microseconds"]) == 2000
    assert int(c["instance_group"][0]["count"]) == 1


def test_grpc_model_config_matches_http(server, client):
    g = client.get_model_config("mobilenet", as_json=True)["config"]
    h = server.get("/v2/models/mobilenet/config").json()
    assert int(g.get("max_batch_size", 0)) == int(h.get("max_batch_size", 0))
    assert [(t["name"], _dims(t["dims"])) for t in g["input"]] == [(t["name"], _dims(t["dims"])) for t in h["input"]]


def test_grpc_infer_equals_keel_run(client, resnet_input, resnet_reference):
    inp = grpcclient.InferInput("input", list(resnet_input.shape), "FP32")
    inp.set_data_from_numpy(resnet_input)
    res = client.infer("resnet", [inp], request_id="g-1")
    resp = res.get_response()
    assert resp.id == "g-1"
    assert resp.model_name == "resnet"
    assert len(resp.raw_output_contents) == 1, "outputs must come in raw_output_contents"
    assert len(resp.raw_output_contents[0]) == 40
    assert list(resp.outputs[0].shape) == [1, 10] and resp.outputs[0].datatype == "FP32"
    got = res.as_numpy("output")
    assert su.same_bits(got, resnet_reference), su.describe_diff(got, resnet_reference)


def test_grpc_infer_with_version(client, resnet_input, resnet_reference):
    inp = grpcclient.InferInput("input", list(resnet_input.shape), "FP32")
    inp.set_data_from_numpy(resnet_input)
    got = client.infer("resnet", [inp], model_version="1").as_numpy("output")
    assert su.same_bits(got, resnet_reference)


def test_grpc_infer_outputs_filter(client):
    x0 = np.arange(6, dtype=np.float32).reshape(2, 3)
    x1 = np.full((2, 3), -2.0, dtype=np.float32)
    inputs = []
    for n, a in (("x0", x0), ("x1", x1)):
        i = grpcclient.InferInput(n, [2, 3], "FP32")
        i.set_data_from_numpy(a)
        inputs.append(i)
    res = client.infer("two_io", inputs, outputs=[grpcclient.InferRequestedOutput("sum")])
    resp = res.get_response()
    assert [o.name for o in resp.outputs] == ["sum"]
    assert su.same_bits(res.as_numpy("sum"), x0 + x1)
    res = client.infer("two_io", inputs)
    assert sorted(o.name for o in res.get_response().outputs) == ["prod", "sum"]
    assert su.same_bits(res.as_numpy("prod"), x0 * x1)


def test_grpc_typed_contents_input(stub, resnet_input, resnet_reference):
    """An input given as fp32_contents (not raw) must work too; the answer still comes raw."""
    req = service_pb2.ModelInferRequest(model_name="resnet")
    t = req.inputs.add(name="input", datatype="FP32", shape=list(resnet_input.shape))
    t.contents.fp32_contents.extend(resnet_input.reshape(-1).tolist())
    resp = stub.ModelInfer(req, timeout=30)
    assert len(resp.raw_output_contents) == 1
    got = np.frombuffer(resp.raw_output_contents[0], dtype=np.float32).reshape(1, 10)
    assert su.same_bits(got, resnet_reference)


@pytest.mark.parametrize("name,op,dtype,n", DTYPE_MODELS, ids=[m[0] for m in DTYPE_MODELS])
def test_grpc_dtype_infer(dtype_server, name, op, dtype, n):
    inputs = su.dtype_inputs(name, dtype, n)
    want = su.dtype_expected(op, inputs)
    c = grpcclient.InferenceServerClient(url=dtype_server.grpc_addr)
    try:
        ins = []
        for k, a in inputs.items():
            i = grpcclient.InferInput(k, list(a.shape), su.NP_TO_V2[a.dtype])
            i.set_data_from_numpy(a)
            ins.append(i)
        got = c.infer(name, ins).as_numpy("y")
        assert su.same_bits(got, want), su.describe_diff(got, want)
    finally:
        c.close()


# --- gRPC errors ---------------------------------------------------------------------------------------------------

def _resnet_request(x, model="resnet", version="", name="input", datatype="FP32", shape=None, raw=None):
    req = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    req.inputs.add(name=name, datatype=datatype, shape=list(shape if shape is not None else x.shape))
    req.raw_input_contents.append(raw if raw is not None else x.tobytes())
    return req


def _code(stub, req):
    try:
        stub.ModelInfer(req, timeout=30)
    except grpc.RpcError as e:
        assert e.details(), "an error status must carry a message"
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("case,want", [
    ("unknown_model", grpc.StatusCode.NOT_FOUND),
    ("unknown_version", grpc.StatusCode.NOT_FOUND),
    ("unknown_input", grpc.StatusCode.INVALID_ARGUMENT),
    ("wrong_datatype", grpc.StatusCode.INVALID_ARGUMENT),
    ("raw_size_mismatch", grpc.StatusCode.INVALID_ARGUMENT),
    ("wrong_shape", grpc.StatusCode.INVALID_ARGUMENT),
    ("negative_dim", grpc.StatusCode.INVALID_ARGUMENT),
    ("missing_raw", grpc.StatusCode.INVALID_ARGUMENT),
    ("unknown_output", grpc.StatusCode.INVALID_ARGUMENT),
    ("batch_above_max", grpc.StatusCode.INVALID_ARGUMENT),
])
def test_grpc_error_status(stub, resnet_input, case, want):
    x = resnet_input
    if case == "unknown_model":
        req = _resnet_request(x, model="no_such_model")
    elif case == "unknown_version":
        req = _resnet_request(x, version="42")
    elif case == "unknown_input":
        req = _resnet_request(x, name="not_an_input")
    elif case == "wrong_datatype":
        req = _resnet_request(x, datatype="INT32")
    elif case == "raw_size_mismatch":
        req = _resnet_request(x, raw=x.tobytes()[:-4])
    elif case == "wrong_shape":
        req = _resnet_request(x, shape=[1, 3, 32, 128], raw=x.tobytes())
    elif case == "negative_dim":
        req = _resnet_request(x, shape=[-1, 3, 64, 64])
    elif case == "missing_raw":
        req = service_pb2.ModelInferRequest(model_name="resnet")
        req.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
    elif case == "unknown_output":
        req = _resnet_request(x)
        req.outputs.add(name="not_an_output")
    elif case == "batch_above_max":
        big = np.zeros((9, 3, 64, 64), dtype=np.float32)
        req = _resnet_request(big)
    code, details = _code(stub, req)
    assert code == want, f"{case}: got {code} {details!r}, want {want}"


def test_grpc_tritonclient_error_is_exception(client):
    inp = grpcclient.InferInput("input", [1, 3, 64, 64], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 3, 64, 64), dtype=np.float32))
    with pytest.raises(InferenceServerException) as ei:
        client.infer("no_such_model", [inp])
    assert "NOT_FOUND" in str(ei.value.status())


def test_grpc_unknown_model_metadata_not_found(stub):
    with pytest.raises(grpc.RpcError) as ei:
        stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="no_such_model"), timeout=10)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as ei:
        stub.ModelConfig(service_pb2.ModelConfigRequest(name="no_such_model"), timeout=10)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_still_serves_after_errors(client, resnet_input, resnet_reference):
    inp = grpcclient.InferInput("input", list(resnet_input.shape), "FP32")
    inp.set_data_from_numpy(resnet_input)
    assert su.same_bits(client.infer("resnet", [inp]).as_numpy("output"), resnet_reference)
