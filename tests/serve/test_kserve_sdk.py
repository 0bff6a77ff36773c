"""The kserve SDK's (asynchronous) v2 clients: InferenceRESTClient(RESTConfig(protocol="v2")) and
InferenceGRPCClient. The REST client parses the health bodies and never asks for binary outputs.

The SDK runs in a child process (kserve_probe.py): it registers the same protobuf symbols as
tritonclient.grpc, so both cannot live in one Python process."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import serve_util as su

PROBE = Path(__file__).resolve().parent / "kserve_probe.py"


@pytest.fixture(scope="module")
def probe(server, tmp_path_factory, resnet_input):
    out = tmp_path_factory.mktemp("kserve_probe")
    np.save(out / "input.npy", resnet_input)
    r = subprocess.run([sys.executable, str(PROBE), server.url, server.grpc_addr, str(out / "input.npy"),
                        str(out)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"kserve_probe.py failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    results = json.loads((out / "results.json").read_text())

    def get(name):
        res = results[name]
        assert res["ok"], f"kserve SDK {name}: {res['error']}\n{res.get('traceback', '')}"
        return res, out

    return get


def test_kserve_rest_health(probe):
    r, _ = probe("rest_health")
    assert r["live"] is True, "is_server_live reads {\"live\": true}"
    assert r["ready"] is True, "is_server_ready reads {\"ready\": true}"
    assert r["model_ready"] is True
    assert r["missing_ready"] is False


@pytest.mark.parametrize("scenario", ["rest_infer_binary", "rest_infer_json"])
def test_kserve_rest_infer_equals_keel_run(probe, resnet_reference, scenario):
    r, out = probe(scenario)
    assert r["id"] == f"ks-{scenario}"
    assert r["model_name"] == "resnet"
    assert r["name"] == "output" and r["datatype"] == "FP32" and r["shape"] == [1, 10]
    got = np.load(out / f"{scenario}.npy").astype(np.float32)
    assert su.same_bits(got, resnet_reference), su.describe_diff(got, resnet_reference)


def test_kserve_rest_infer_dict_body(probe):
    r, _ = probe("rest_infer_dict")
    assert r["names"] == ["sum"]
    assert r["values"] == [3.0] * 6


def test_kserve_rest_error_raises_http_status_error(probe):
    r, _ = probe("rest_error")
    assert r["raised"], "a bad request must fail with a non-2xx status"
    assert r["status"] == 400, r
    body = json.loads(r["body"])
    assert isinstance(body.get("error"), str) and body["error"], body


def test_kserve_grpc_health_and_infer(probe, resnet_reference):
    r, out = probe("grpc_health_infer")
    assert r["live"] and r["ready"] and r["model_ready"]
    assert r["id"] == "ks-g-1"
    got = np.load(out / "grpc_health_infer.npy")
    assert su.same_bits(got, resnet_reference), su.describe_diff(got, resnet_reference)


def test_kserve_grpc_requested_output(probe):
    r, out = probe("grpc_requested_output")
    assert r["names"] == ["prod"]
    x0 = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert su.same_bits(np.load(out / "grpc_requested_output.npy"), x0 * 3.0)
