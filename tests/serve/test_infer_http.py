"""Inference over HTTP: JSON `data`, binary tensors (tritonclient's default), mixed, output filters, ids,
batch 2, and other dtypes. Float outputs must equal `keel run`'s bit for bit."""

import json

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient

import serve_util as su
from serve_util import DTYPE_MODELS, RESNET


def _assert_bits(got, want, what):
    assert su.same_bits(got, want), f"{what}: {su.describe_diff(got, want)}"


def test_json_infer_equals_keel_run(server, resnet_input, resnet_reference):
    body = su.json_request({"input": resnet_input}, request_id="req-42")
    r = server.post("/v2/models/resnet/infer", json=body)
    assert r.status_code == 200, r.text
    assert "Inference-Header-Content-Length" not in r.headers, "JSON request without binary outputs asked"
    res = r.json()
    assert res["id"] == "req-42"
    assert res["model_name"] == "resnet"
    assert str(res.get("model_version", "1")) == "1"
    (out,) = res["outputs"]
    assert out["name"] == "output" and out["datatype"] == "FP32"
    assert [int(d) for d in out["shape"]] == [1, 10]
    assert isinstance(out["data"], list) and len(out["data"]) == 10
    got = np.array(out["data"], dtype=np.float64).astype(np.float32).reshape(1, 10)
    _assert_bits(got, resnet_reference, "JSON output vs keel run")


def test_json_floats_round_trip_exactly(server, resnet_input, resnet_reference):
    """Each printed float must parse back to the exact float32 (enough digits), also via float32 parsing."""
    r = server.post("/v2/models/resnet/infer", json=su.json_request({"input": resnet_input}))
    text_values = json.loads(r.text, parse_float=str)["outputs"][0]["data"]
    direct = np.array([np.float32(v) for v in text_values], dtype=np.float32).reshape(1, 10)
    _assert_bits(direct, resnet_reference, "float32-parsed JSON output vs keel run")


def test_binary_infer_with_tritonclient_equals_keel_run(server, resnet_input, resnet_reference):
    client = httpclient.InferenceServerClient(url=server.http_addr)
    try:
        inp = httpclient.InferInput("input", list(resnet_input.shape), "FP32")
        inp.set_data_from_numpy(resnet_input)  # binary by default
        res = client.infer("resnet", [inp], request_id="tc-1")
        assert res.get_response()["id"] == "tc-1"
        out = res.get_output("output")
        assert "binary_data_size" in (out.get("parameters") or {}), out
        _assert_bits(res.as_numpy("output"), resnet_reference, "binary output vs keel run")
    finally:
        client.close()


def test_binary_input_json_output_with_tritonclient(server, resnet_input, resnet_reference):
    client = httpclient.InferenceServerClient(url=server.http_addr)
    try:
        inp = httpclient.InferInput("input", list(resnet_input.shape), "FP32")
        inp.set_data_from_numpy(resnet_input, binary_data=True)
        res = client.infer("resnet", [inp], outputs=[httpclient.InferRequestedOutput("output", binary_data=False)])
        out = res.get_output("output")
        assert "data" in out and "binary_data_size" not in (out.get("parameters") or {})
        _assert_bits(res.as_numpy("output"), resnet_reference, "JSON output of a binary request")
    finally:
        client.close()


def test_json_input_binary_output_with_tritonclient(server, resnet_input, resnet_reference):
    client = httpclient.InferenceServerClient(url=server.http_addr)
    try:
        inp = httpclient.InferInput("input", list(resnet_input.shape), "FP32")
        inp.set_data_from_numpy(resnet_input, binary_data=False)
        res = client.infer("resnet", [inp], outputs=[httpclient.InferRequestedOutput("output", binary_data=True)])
        _assert_bits(res.as_numpy("output"), resnet_reference, "binary output of a JSON request")
    finally:
        client.close()


def test_handwritten_binary_request_lowercase_header(server, resnet_input, resnet_reference):
    body, headers = su.binary_request({"input": resnet_input}, binary_output=True)
    headers = {k.lower(): v for k, v in headers.items()}  # the kserve SDK sends lower-case names
    r = requests.post(server.url + "/v2/models/resnet/infer", data=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    hlen = int(r.headers["Inference-Header-Content-Length"])
    header = json.loads(r.content[:hlen])
    size = header["outputs"][0]["parameters"]["binary_data_size"]
    assert size == 40 and len(r.content) == hlen + size
    _, arrays = su.parse_infer_response(r)
    _assert_bits(arrays["output"], resnet_reference, "hand-written binary request")


def test_binary_request_without_binary_output_answers_json(server, resnet_input, resnet_reference):
    body, headers = su.binary_request({"input": resnet_input}, binary_output=None)
    r = requests.post(server.url + "/v2/models/resnet/infer", data=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    header, arrays = su.parse_infer_response(r)
    assert "data" in header["outputs"][0], "binary_data_output not asked: outputs must be JSON data"
    _assert_bits(arrays["output"], resnet_reference, "JSON output of a binary request")


def test_versioned_infer_url(server, resnet_input, resnet_reference):
    r = server.post("/v2/models/resnet/versions/1/infer", json=su.json_request({"input": resnet_input}))
    assert r.status_code == 200, r.text
    got = np.array(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(1, 10)
    _assert_bits(got, resnet_reference, "versions/1/infer")


def test_batch2_equals_keel_run_of_batch2(server, keel_run_ref, resnet_input):
    rng = np.random.default_rng(7)
    x = np.concatenate([resnet_input, rng.standard_normal((1, 3, 64, 64), dtype=np.float32)])
    want = keel_run_ref(RESNET / "model.onnx", {"input": x})["output"]
    r, arrays = su.infer_binary(requests, server.url, "resnet", {"input": x})
    assert r.status_code == 200, r.text
    _assert_bits(arrays["output"], want, "batch 2 vs keel run of the same batch")


def test_json_batch8_equals_keel_run(server, keel_run_ref):
    """A 2 MB JSON request (batch 8, the model's max_batch_size)."""
    x = np.random.default_rng(8).standard_normal((8, 3, 64, 64), dtype=np.float32)
    want = keel_run_ref(RESNET / "model.onnx", {"input": x})["output"]
    r = server.post("/v2/models/resnet/infer", json=su.json_request({"input": x}))
    assert r.status_code == 200, r.text[:300]
    out = r.json()["outputs"][0]
    assert [int(d) for d in out["shape"]] == [8, 10]
    _assert_bits(np.array(out["data"], dtype=np.float32).reshape(8, 10), want, "JSON batch 8 vs keel run")


def test_unbatched_model_without_config_equals_keel_run(server, keel_run_ref):
    x = np.load(su.MODELS / "mobilenet_tiny" / "inputs" / "input.npy")
    want = keel_run_ref(su.MODELS / "mobilenet_tiny" / "model.onnx", {"input": x})["output"]
    r, arrays = su.infer_binary(requests, server.url, "mobilenet", {"input": x})
    assert r.status_code == 200, r.text
    _assert_bits(arrays["output"], want, "mobilenet vs keel run")


def test_layout_parameter_from_config_equals_keel_run_nchw(server, keel_run_ref, resnet_input):
    want = keel_run_ref(RESNET / "model.onnx", {"input": resnet_input}, ["--layout", "nchw"])["output"]
    r, arrays = su.infer_binary(requests, server.url, "resnet_nchw", {"input": resnet_input})
    assert r.status_code == 200, r.text
    _assert_bits(arrays["output"], want, "resnet_nchw (layout nchw) vs keel run --layout nchw")


def test_precision_parameter_from_config_equals_keel_run_bf16(server, keel_run_ref, resnet_input):
    want = keel_run_ref(RESNET / "model.onnx", {"input": resnet_input},
                        ["--precision", "bf16", "--layout", "nhwc"])["output"]
    r, arrays = su.infer_binary(requests, server.url, "resnet_bf16", {"input": resnet_input})
    assert r.status_code == 200, r.text
    _assert_bits(arrays["output"], want, "resnet_bf16 (precision bf16) vs keel run --precision bf16")
    exact = keel_run_ref(RESNET / "model.onnx", {"input": resnet_input}, ["--layout", "nhwc"])["output"]
    assert not su.same_bits(arrays["output"], exact), "the bf16 model ran float32"


def test_outputs_filter_returns_only_requested_output(server):
    x0 = np.arange(6, dtype=np.float32).reshape(2, 3)
    x1 = np.full((2, 3), 1.5, dtype=np.float32)
    body = su.json_request({"x0": x0, "x1": x1}, outputs=[{"name": "prod"}])
    r = server.post("/v2/models/two_io/infer", json=body)
    assert r.status_code == 200, r.text
    outs = r.json()["outputs"]
    assert [o["name"] for o in outs] == ["prod"]
    assert np.array(outs[0]["data"], dtype=np.float32).reshape(2, 3).tolist() == (x0 * x1).tolist()


def test_two_outputs_mixed_binary_and_json(server):
    x0 = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    x1 = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    client = httpclient.InferenceServerClient(url=server.http_addr)
    try:
        inputs = []
        for n, a in (("x0", x0), ("x1", x1)):
            i = httpclient.InferInput(n, [2, 3], "FP32")
            i.set_data_from_numpy(a)
            inputs.append(i)
        outs = [httpclient.InferRequestedOutput("sum", binary_data=False),
                httpclient.InferRequestedOutput("prod", binary_data=True)]
        res = client.infer("two_io", inputs, outputs=outs)
        _assert_bits(res.as_numpy("sum"), x0 + x1, "sum")
        _assert_bits(res.as_numpy("prod"), x0 * x1, "prod")
        assert "data" in res.get_output("sum")
        assert "binary_data_size" in res.get_output("prod")["parameters"]
    finally:
        client.close()


def test_all_outputs_returned_without_filter(server):
    x = np.ones((2, 3), dtype=np.float32)
    r = server.post("/v2/models/two_io/infer", json=su.json_request({"x0": x, "x1": x}))
    assert r.status_code == 200, r.text
    assert sorted(o["name"] for o in r.json()["outputs"]) == ["prod", "sum"]


def test_keepalive_connection_serves_many_requests(server, resnet_input, resnet_reference):
    with requests.Session() as s:
        for _ in range(12):  # more than cpp-httplib's 5 per connection
            r, arrays = su.infer_binary(s, server.url, "resnet", {"input": resnet_input})
            assert r.status_code == 200, r.text
            _assert_bits(arrays["output"], resnet_reference, "keep-alive request")


def test_all_dynamic_dims_model(server):
    x = np.random.default_rng(11).standard_normal((2, 3, 5), dtype=np.float32)
    r, arrays = su.infer_binary(requests, server.url, "dyn_id", {"x": x})
    assert r.status_code == 200, r.text
    _assert_bits(arrays["y"], x, "dyn_id binary")
    r = server.post("/v2/models/dyn_id/infer", json=su.json_request({"x": x[:1, :2, :4]}))
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert [int(d) for d in out["shape"]] == [1, 2, 4]
    _assert_bits(np.array(out["data"], dtype=np.float32).reshape(1, 2, 4), x[:1, :2, :4], "dyn_id JSON")


def test_many_concurrent_keepalive_connections_all_served(server, resnet_input, resnet_reference):
    """32 keep-alive connections in a closed loop (more than a fixed pool of 8 threads): every one is answered."""
    import threading

    n_conn, n_req = 32, 5
    done = [0] * n_conn
    errors = []

    def worker(i):
        try:
            with requests.Session() as s:
                for _ in range(n_req):
                    r, arrays = su.infer_binary(s, server.url, "resnet", {"input": resnet_input}, timeout=20)
                    if r.status_code != 200 or not su.same_bits(arrays["output"], resnet_reference):
                        errors.append(f"connection {i}: {r.status_code} {r.text[:100]}")
                        return
                    done[i] += 1
        except requests.RequestException as e:
            errors.append(f"connection {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n_conn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:5]
    assert done == [n_req] * n_conn, f"requests answered per connection: {done}"


def test_memory_flat_over_many_requests(server, resnet_input, resnet_reference):
    """RSS after 200 more requests (binary and JSON, batch 1 to 8) stays within 20 MB of the warmed-up RSS."""
    rng = np.random.default_rng(12)
    xs = {b: rng.standard_normal((b, 3, 64, 64), dtype=np.float32) for b in (1, 2, 8)}

    def burst(n):
        with requests.Session() as s:
            for i in range(n):
                x = xs[(1, 2, 8)[i % 3]]
                if i % 5 == 0:
                    r = s.post(server.url + "/v2/models/resnet/infer", json=su.json_request({"input": x}), timeout=30)
                else:
                    r, _ = su.infer_binary(s, server.url, "resnet", {"input": x})
                assert r.status_code == 200, r.text[:200]

    burst(60)
    before = server.rss_kb()
    burst(200)
    after = server.rss_kb()
    assert after - before < 20 * 1024, f"RSS grew {(after - before) / 1024:.1f} MB over 200 requests"
    r, arrays = su.infer_binary(requests, server.url, "resnet", {"input": resnet_input})
    _assert_bits(arrays["output"], resnet_reference, "after the burst")


# --- dtypes ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,op,dtype,n", DTYPE_MODELS, ids=[m[0] for m in DTYPE_MODELS])
def test_dtype_binary_infer(dtype_server, name, op, dtype, n):
    inputs = su.dtype_inputs(name, dtype, n)
    want = su.dtype_expected(op, inputs)
    r, arrays = su.infer_binary(requests, dtype_server.url, name, inputs)
    assert r.status_code == 200, r.text
    header, _ = su.parse_infer_response(r)
    assert header["outputs"][0]["datatype"] == su.NP_TO_V2[np.dtype(dtype)]
    _assert_bits(arrays["y"], want, f"{name} binary")


@pytest.mark.parametrize("name,op,dtype,n", [m for m in DTYPE_MODELS if m[2] != np.float16],
                         ids=[m[0] for m in DTYPE_MODELS if m[2] != np.float16])
def test_dtype_json_infer(dtype_server, name, op, dtype, n):
    inputs = su.dtype_inputs(name, dtype, n)
    want = su.dtype_expected(op, inputs)
    r = dtype_server.post(f"/v2/models/{name}/infer", json=su.json_request(inputs))
    assert r.status_code == 200, r.text
    out = json.loads(r.text)["outputs"][0]  # Python ints keep int64 exact
    assert out["datatype"] == su.NP_TO_V2[np.dtype(dtype)]
    if dtype == np.bool_:
        assert all(isinstance(v, bool) for v in out["data"]), out["data"]
    got = np.array(out["data"], dtype=dtype).reshape(2, 3)
    _assert_bits(got, want, f"{name} JSON")


def test_dtype_models_metadata_datatypes(dtype_server):
    for name, _op, dtype, n in DTYPE_MODELS:
        m = dtype_server.get(f"/v2/models/{name}").json()
        want = su.NP_TO_V2[np.dtype(dtype)]
        assert [i["datatype"] for i in m["inputs"]] == [want] * n, name
        assert m["outputs"][0]["datatype"] == want, name
        c = dtype_server.get(f"/v2/models/{name}/config").json()
        assert c["input"][0]["data_type"] == "TYPE_" + want, (name, c)
