"""Prometheus metrics on GET /metrics (HTTP port) and on --metrics-port: names, labels, types, and counters
that move by exactly the right amounts."""

import numpy as np
import pytest
import requests

import serve_util as su

PER_MODEL = ["keel_inference_request_success", "keel_inference_request_failure", "keel_inference_count",
             "keel_inference_exec_count", "keel_inference_queue_duration_us",
             "keel_inference_compute_infer_duration_us", "keel_inference_request_duration_us",
             "keel_inference_pending_request_count"]
HISTOGRAMS = ["keel_request_latency_seconds", "keel_queue_latency_seconds", "keel_compute_latency_seconds"]
PROCESS = ["process_resident_memory_bytes", "process_cpu_seconds_total"]


def _warm(server):
    """At least one success on mobilenet so that per-model series exist."""
    x = np.load(su.MOBILENET / "inputs" / "input.npy")
    r, _ = su.infer_binary(requests, server.url, "mobilenet", {"input": x})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("where", ["http_port", "metrics_port"])
def test_metrics_endpoint_is_prometheus_text(server, where):
    _warm(server)
    url = server.url + "/metrics" if where == "http_port" else server.metrics_url
    r = requests.get(url, timeout=10)
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    m = su.Metrics(r.text)  # raises on a line that is not the text format
    names = m.names()
    missing = [n for n in PER_MODEL + PROCESS + ["keel_model_load_duration_seconds"] if n not in names]
    missing += [h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count") if h + suffix not in names]
    assert not missing, f"missing metrics: {missing}"
    assert m.has("keel_inference_request_success", model="mobilenet", version="1")
    for name in ("keel_inference_request_success", "keel_inference_count", "keel_inference_exec_count"):
        assert m.types.get(name) == "counter", (name, m.types.get(name))
    assert m.types.get("keel_inference_pending_request_count") == "gauge"
    for h in HISTOGRAMS:
        assert m.types.get(h) == "histogram", (h, m.types.get(h))
    # every sample's family has a TYPE line
    for n in names:
        base = n
        for suffix in ("_bucket", "_sum", "_count"):
            if n.endswith(suffix) and n[: -len(suffix)] in m.types:
                base = n[: -len(suffix)]
        assert base in m.types, f"{n} has no # TYPE line"


def test_failure_metric_has_reason_label(server):
    r = server.post("/v2/models/mobilenet/infer", json={"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32",
                                                                    "data": [1.0]}]})
    assert r.status_code == 400
    m = su.get_metrics(server.url + "/metrics")
    fails = m.find("keel_inference_request_failure", model="mobilenet", version="1")
    assert fails, "no keel_inference_request_failure{model=\"mobilenet\",version=\"1\",...}"
    assert all("reason" in labels for labels, _ in fails), fails


def _histogram_ok(m, name, **labels):
    buckets = sorted(((float(l["le"]), v) for l, v in m.find(name + "_bucket", **labels)), key=lambda t: t[0])
    assert buckets, f"no {name}_bucket for {labels}"
    assert buckets[-1][0] == float("inf"), f"{name}: no le=\"+Inf\" bucket"
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), f"{name}: buckets are not cumulative: {buckets}"
    assert buckets[-1][1] == m.value(name + "_count", **labels), f"{name}: +Inf bucket != _count"


def test_counters_move_by_the_right_amounts(server):
    x = np.load(su.MOBILENET / "inputs" / "input.npy")
    lbl = {"model": "mobilenet", "version": "1"}
    _warm(server)
    a = su.get_metrics(server.url + "/metrics")
    n_ok = 5
    with requests.Session() as s:
        for _ in range(n_ok):
            r, _ = su.infer_binary(s, server.url, "mobilenet", {"input": x})
            assert r.status_code == 200, r.text
    b = su.get_metrics(server.url + "/metrics")

    def d(m1, m2, name):
        return m2.value(name, **lbl) - m1.value(name, **lbl)

    assert d(a, b, "keel_inference_request_success") == n_ok
    assert d(a, b, "keel_inference_count") == n_ok
    assert d(a, b, "keel_inference_exec_count") == n_ok  # no dynamic batching for mobilenet
    assert d(a, b, "keel_inference_request_failure") == 0
    assert d(a, b, "keel_inference_request_duration_us") > 0
    assert d(a, b, "keel_inference_compute_infer_duration_us") > 0
    assert d(a, b, "keel_inference_queue_duration_us") >= 0
    assert d(a, b, "keel_inference_request_duration_us") >= d(a, b, "keel_inference_compute_infer_duration_us")
    assert d(a, b, "keel_request_latency_seconds_count") == n_ok
    assert d(a, b, "keel_request_latency_seconds_sum") > 0
    assert d(a, b, "keel_compute_latency_seconds_count") == n_ok
    assert d(a, b, "keel_queue_latency_seconds_count") == n_ok
    for h in HISTOGRAMS:
        _histogram_ok(b, h, **lbl)
    assert b.value("keel_inference_pending_request_count", **lbl) == 0

    n_bad = 3
    for _ in range(n_bad):
        r = server.post("/v2/models/mobilenet/infer",
                        json={"inputs": [{"name": "input", "shape": [1, 3, 64, 64], "datatype": "FP32",
                                          "data": [0.0] * 7}]})
        assert r.status_code == 400
    c = su.get_metrics(server.url + "/metrics")
    assert d(b, c, "keel_inference_request_failure") == n_bad
    assert d(b, c, "keel_inference_request_success") == 0
    assert d(b, c, "keel_inference_count") == 0


def test_batched_request_counts_its_batch_size(server):
    lbl = {"model": "resnet", "version": "1"}
    a = su.get_metrics(server.url + "/metrics")
    x = np.zeros((3, 3, 64, 64), dtype=np.float32)
    r, _ = su.infer_binary(requests, server.url, "resnet", {"input": x})
    assert r.status_code == 200, r.text
    b = su.get_metrics(server.url + "/metrics")
    assert b.value("keel_inference_count", **lbl) - a.value("keel_inference_count", **lbl) == 3
    assert b.value("keel_inference_exec_count", **lbl) - a.value("keel_inference_exec_count", **lbl) == 1
    assert b.value("keel_inference_request_success", **lbl) - a.value("keel_inference_request_success", **lbl) == 1


def test_grpc_requests_are_counted_too(server):
    import tritonclient.grpc as grpcclient

    lbl = {"model": "mobilenet", "version": "1"}
    x = np.load(su.MOBILENET / "inputs" / "input.npy")
    a = su.get_metrics(server.url + "/metrics")
    c = grpcclient.InferenceServerClient(url=server.grpc_addr)
    try:
        for _ in range(2):
            i = grpcclient.InferInput("input", list(x.shape), "FP32")
            i.set_data_from_numpy(x)
            c.infer("mobilenet", [i])
    finally:
        c.close()
    b = su.get_metrics(server.url + "/metrics")
    assert b.value("keel_inference_request_success", **lbl) - a.value("keel_inference_request_success", **lbl) == 2


def test_model_load_duration_and_process_metrics(server):
    m = su.get_metrics(server.metrics_url)
    for model in ("resnet", "mobilenet", "two_io"):
        assert m.value("keel_model_load_duration_seconds", model=model) > 0, model
    rss = m.value("process_resident_memory_bytes")
    assert 1e6 < rss < 8e9, rss
    assert abs(rss / 1024 - server.rss_kb()) / server.rss_kb() < 0.5, (rss, server.rss_kb())
    assert m.value("process_cpu_seconds_total") > 0


def test_metrics_port_disabled_with_minus_one(keel_server, main_repository):
    s = keel_server(["--model-repository", main_repository], metrics=False, grpc=False)
    assert s.metrics_port == -1 and s.grpc_port == -1
    assert s.get("/v2/health/ready").status_code == 200
    assert s.get("/metrics").status_code == 200  # still on the HTTP port
