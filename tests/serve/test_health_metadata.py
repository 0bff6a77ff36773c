"""Health, server metadata, model metadata, model readiness and model config over HTTP (raw and tritonclient)."""

import pytest
import tritonclient.http as httpclient

import serve_util as su

PLATFORMS = ("onnxruntime_onnx", "keel_onnx")


def _dims(values):
    return [int(v) for v in values]


def test_health_live_is_200_with_live_true(server):
    r = server.get("/v2/health/live")
    assert r.status_code == 200
    assert r.json() == {"live": True}


def test_health_ready_is_200_with_ready_true(server):
    r = server.get("/v2/health/ready")
    assert r.status_code == 200
    assert r.json() == {"ready": True}


def test_health_answers_are_json_typed(server):
    for path in ("/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/resnet", "/v2/models/resnet/ready"):
        r = server.get(path)
        assert r.status_code == 200, path
        assert r.headers.get("Content-Type", "").startswith("application/json"), (path, r.headers)


def test_server_metadata_names_keel_and_not_statistics(server):
    r = server.get("/v2")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "keel"
    assert isinstance(body["version"], str) and body["version"]
    assert isinstance(body["extensions"], list)
    assert all(isinstance(e, str) for e in body["extensions"])
    assert "statistics" not in body["extensions"], "perf_analyzer polls /stats when `statistics` is advertised"


def test_model_metadata_resnet(server):
    r = server.get("/v2/models/resnet")
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["name"] == "resnet"
    assert "1" in m["versions"]
    assert m["platform"] in PLATFORMS
    assert [i["name"] for i in m["inputs"]] == ["input"]
    assert m["inputs"][0]["datatype"] == "FP32"
    assert _dims(m["inputs"][0]["shape"]) == [-1, 3, 64, 64]
    assert [o["name"] for o in m["outputs"]] == ["output"]
    assert m["outputs"][0]["datatype"] == "FP32"
    assert _dims(m["outputs"][0]["shape"]) == [-1, 10]


def test_model_version_metadata_matches_model_metadata(server):
    a = server.get("/v2/models/resnet").json()
    r = server.get("/v2/models/resnet/versions/1")
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["name"] == "resnet"
    assert b["inputs"] == a["inputs"] and b["outputs"] == a["outputs"]
    assert b["platform"] == a["platform"]


def test_model_metadata_two_inputs_two_outputs(server):
    m = server.get("/v2/models/two_io").json()
    assert sorted(i["name"] for i in m["inputs"]) == ["x0", "x1"]
    assert sorted(o["name"] for o in m["outputs"]) == ["prod", "sum"]
    for t in m["inputs"] + m["outputs"]:
        assert t["datatype"] == "FP32"
        assert _dims(t["shape"]) == [2, 3]


def test_model_ready_body(server):
    r = server.get("/v2/models/resnet/ready")
    assert r.status_code == 200
    assert r.json() == {"name": "resnet", "ready": True}


def test_model_version_ready(server):
    r = server.get("/v2/models/resnet/versions/1/ready")
    assert r.status_code == 200
    assert r.json()["ready"] is True


def test_model_config_of_batching_model(server):
    r = server.get("/v2/models/resnet/config")
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["name"] == "resnet"
    assert int(c["max_batch_size"]) == 8
    assert c["input"][0]["name"] == "input"
    assert c["input"][0]["data_type"] == "TYPE_FP32"
    assert _dims(c["input"][0]["dims"]) == [3, 64, 64]
    assert c["output"][0]["name"] == "output"
    assert c["output"][0]["data_type"] == "TYPE_FP32"
    assert _dims(c["output"][0]["dims"]) == [10]
    assert "dynamic_batching" in c
    assert int(c["dynamic_batching"].get("max_queue_delay_microseconds", 0)) == 2000
    groups = c.get("instance_group")
    assert groups and int(groups[0]["count"]) == 1


@pytest.mark.parametrize("model", ["mobilenet", "resnet_nchw", "two_io", "resnet", "dyn_id"])
def test_model_config_consistent_with_metadata(server, model):
    """max_batch_size > 0 <=> metadata shapes start with -1 and config dims are the rest."""
    c = server.get(f"/v2/models/{model}/config").json()
    m = server.get(f"/v2/models/{model}").json()
    assert c["name"] == model
    mbs = int(c.get("max_batch_size", 0))
    assert mbs >= 0
    by_name = {t["name"]: t for t in m["inputs"] + m["outputs"]}
    cfg_tensors = c.get("input", []) + c.get("output", [])
    assert sorted(t["name"] for t in cfg_tensors) == sorted(by_name), (cfg_tensors, by_name)
    for t in cfg_tensors:
        shape = _dims(by_name[t["name"]]["shape"])
        dims = _dims(t["dims"])
        assert t["data_type"] == "TYPE_" + by_name[t["name"]]["datatype"]
        if mbs > 0:
            assert shape[0] == -1, f"{model}: max_batch_size {mbs} but metadata shape {shape}"
            assert dims == shape[1:], (dims, shape)
        else:
            assert dims == shape, (dims, shape)


def test_unconfigured_model_has_no_dynamic_batching(server):
    c = server.get("/v2/models/two_io/config").json()
    assert int(c.get("max_batch_size", 0)) == 0  # fixed dims [2,3]: no batch dim
    assert "dynamic_batching" not in c


def test_tritonclient_http_health_and_metadata(server):
    client = httpclient.InferenceServerClient(url=server.http_addr)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("resnet")
        assert client.is_model_ready("resnet", "1")
        assert not client.is_model_ready("no_such_model")
        meta = client.get_server_metadata()
        assert meta["name"] == "keel"
        mm = client.get_model_metadata("resnet")
        assert mm["inputs"][0]["name"] == "input"
        mc = client.get_model_config("resnet")
        assert int(mc["max_batch_size"]) == 8
        assert "dynamic_batching" in mc
    finally:
        client.close()


def test_unknown_model_metadata_is_404(server):
    for path in ("/v2/models/nope", "/v2/models/nope/config", "/v2/models/nope/ready",
                 "/v2/models/resnet/versions/7", "/v2/models/resnet/versions/7/ready"):
        r = server.get(path)
        assert r.status_code == 404, f"GET {path}: {r.status_code} {r.text[:200]}"
        if not path.endswith("/ready"):
            assert su.error_message(r)
