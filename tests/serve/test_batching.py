"""Dynamic batching: concurrent clients with distinct inputs get their own answers (no cross-talk), batches
form (exec_count < inference_count), and a full queue rejects with 503.

keel's results are row-independent (a row of batch n equals the same row run alone, bit for bit: checked
with `keel run` on batches 1..8), so batched answers must equal the single-request answers exactly."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient

import serve_util as su

N_THREADS = 16
N_PER_THREAD = 20
N_GRPC_THREADS = 4  # of the 16, these use tritonclient.grpc; the others HTTP binary


def _inputs_for(thread: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1000 + thread)
    out = []
    for i in range(N_PER_THREAD):
        batch = 2 if i % 4 == 3 else 1
        out.append(rng.standard_normal((batch, 3, 64, 64), dtype=np.float32))
    return out


def _grpc_infer(client, x):
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return client.infer("resnet", [inp], client_timeout=30).as_numpy("output")


def test_concurrent_distinct_inputs_no_crosstalk_and_batches_form(server):
    all_inputs = [_inputs_for(t) for t in range(N_THREADS)]
    total_requests = N_THREADS * N_PER_THREAD
    total_items = sum(x.shape[0] for xs in all_inputs for x in xs)

    # Single-request answers, one at a time (each forms a batch of its own).
    refs = []
    with requests.Session() as s:
        for xs in all_inputs:
            row = []
            for x in xs:
                r, arrays = su.infer_binary(s, server.url, "resnet", {"input": x})
                assert r.status_code == 200, r.text
                row.append(arrays["output"])
            refs.append(row)

    before = su.get_metrics(server.url + "/metrics")
    results: list[list] = [[None] * N_PER_THREAD for _ in range(N_THREADS)]
    errors: list[str] = []
    start = threading.Barrier(N_THREADS, timeout=30)

    def worker(t: int):
        try:
            start.wait()
            if t < N_GRPC_THREADS:
                c = grpcclient.InferenceServerClient(url=server.grpc_addr)
                try:
                    for i, x in enumerate(all_inputs[t]):
                        results[t][i] = _grpc_infer(c, x)
                finally:
                    c.close()
            else:
                with requests.Session() as s:
                    for i, x in enumerate(all_inputs[t]):
                        r, arrays = su.infer_binary(s, server.url, "resnet", {"input": x}, timeout=30)
                        if r.status_code != 200:
                            errors.append(f"thread {t} request {i}: {r.status_code} {r.text[:200]}")
                            return
                        results[t][i] = arrays["output"]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"thread {t}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(N_THREADS)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max(1.0, 120 - (time.monotonic() - t0)))
    assert not any(th.is_alive() for th in threads), "clients still waiting after 120 s"
    assert not errors, "\n".join(errors[:10])

    mismatches = []
    for t in range(N_THREADS):
        for i in range(N_PER_THREAD):
            got, want = results[t][i], refs[t][i]
            if got is None or not su.same_bits(got, want):
                detail = "no answer" if got is None else su.describe_diff(got, want)
                # Which other request's answer is it? (cross-talk)
                owner = [(tt, ii) for tt in range(N_THREADS) for ii in range(N_PER_THREAD)
                         if got is not None and refs[tt][ii].shape == got.shape and su.same_bits(got, refs[tt][ii])]
                mismatches.append(f"thread {t} request {i} (batch {all_inputs[t][i].shape[0]}): {detail}"
                                  + (f"; it is the answer of {owner}" if owner else ""))
    assert not mismatches, f"{len(mismatches)} of {total_requests} answers differ:\n" + "\n".join(mismatches[:10])

    after = su.get_metrics(server.url + "/metrics")
    lbl = {"model": "resnet", "version": "1"}
    d_success = after.value("keel_inference_request_success", **lbl) - before.value(
        "keel_inference_request_success", **lbl)
    d_count = after.value("keel_inference_count", **lbl) - before.value("keel_inference_count", **lbl)
    d_exec = after.value("keel_inference_exec_count", **lbl) - before.value("keel_inference_exec_count", **lbl)
    assert d_success == total_requests, f"request_success moved by {d_success}, want {total_requests}"
    assert d_count == total_items, f"inference_count moved by {d_count}, want {total_items} (a batch of n counts n)"
    assert 0 < d_exec < d_count, f"exec_count moved by {d_exec} for {d_count} inferences: no batches formed"


def test_batch_above_max_batch_size_is_400(server):
    x = np.zeros((9, 3, 64, 64), dtype=np.float32)
    r, _ = su.infer_binary(requests, server.url, "resnet", {"input": x})
    assert r.status_code == 400, r.text
    assert su.error_message(r)


def test_max_batch_size_batch_is_served(server, keel_run_ref):
    x = np.random.default_rng(3).standard_normal((8, 3, 64, 64), dtype=np.float32)
    want = keel_run_ref(su.RESNET / "model.onnx", {"input": x})["output"]
    r, arrays = su.infer_binary(requests, server.url, "resnet", {"input": x})
    assert r.status_code == 200, r.text
    assert su.same_bits(arrays["output"], want), su.describe_diff(arrays["output"], want)


QUEUE_CONFIG = """\
name: "slowq"
max_batch_size: 1
instance_group [ { count: 1 } ]
dynamic_batching {
  default_queue_policy { max_queue_size: 1 }
}
"""


def test_full_queue_rejects_with_503(keel_server, tmp_path):
    """One instance busy with a ~0.1 s request and a queue of 1: of 8 simultaneous requests, some get 503
    with an error body, the accepted ones are correct, and the failures are counted."""
    repo = tmp_path / "repo"
    su.add_model(repo, "slowq", su.make_slow_model(tmp_path / "slow.onnx"), config=QUEUE_CONFIG)
    srv = keel_server(["--model-repository", repo], extra_args=["--threads", "1"])
    x = np.random.default_rng(5).standard_normal((1, 512, su.SLOW_WIDTH), dtype=np.float32)
    r, arrays = su.infer_binary(requests, srv.url, "slowq", {"x": x})  # warm-up
    assert r.status_code == 200, r.text
    assert np.allclose(arrays["y"], x, atol=1e-4)

    statuses, bodies = [None] * 8, [None] * 8
    go = threading.Barrier(8, timeout=30)

    def one(i):
        go.wait()
        rr, out = su.infer_binary(requests, srv.url, "slowq", {"x": x}, timeout=60)
        statuses[i] = rr.status_code
        bodies[i] = rr if rr.status_code != 200 else out

    ths = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=90)
    assert all(s is not None for s in statuses), statuses
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1, statuses
    assert statuses.count(503) >= 1, f"no request was rejected with a queue of 1: {statuses}"
    for s, b in zip(statuses, bodies):
        if s == 503:
            assert su.error_message(b)
        else:
            assert np.allclose(b["y"], x, atol=1e-4)
    m = su.get_metrics(srv.url + "/metrics")
    assert m.value("keel_inference_request_failure", model="slowq", version="1") == statuses.count(503)


def test_full_queue_rejects_grpc_with_unavailable(keel_server, tmp_path):
    """The same over gRPC: rejected requests end with UNAVAILABLE and a message."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    repo = tmp_path / "repo"
    su.add_model(repo, "slowq", su.make_slow_model(tmp_path / "slow.onnx"), config=QUEUE_CONFIG)
    srv = keel_server(["--model-repository", repo], extra_args=["--threads", "1"])
    x = np.random.default_rng(6).standard_normal((1, 512, su.SLOW_WIDTH), dtype=np.float32)
    channel = grpc.insecure_channel(srv.grpc_addr)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

    def request():
        req = service_pb2.ModelInferRequest(model_name="slowq")
        req.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
        req.raw_input_contents.append(x.tobytes())
        return req

    try:
        stub.ModelInfer(request(), timeout=60)  # warm-up
        codes = [None] * 8
        go = threading.Barrier(8, timeout=30)

        def one(i):
            go.wait()
            try:
                resp = stub.ModelInfer(request(), timeout=60)
                ok = np.allclose(np.frombuffer(resp.raw_output_contents[0], dtype=np.float32).reshape(x.shape), x,
                                 atol=1e-4)
                codes[i] = "OK" if ok else "WRONG"
            except grpc.RpcError as e:
                codes[i] = e.code().name if e.details() else e.code().name + "(no message)"

        ths = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(8)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(timeout=90)
    finally:
        channel.close()
    assert set(codes) <= {"OK", "UNAVAILABLE"}, codes
    assert "OK" in codes and "UNAVAILABLE" in codes, codes


def _timeout_config(action: str) -> str:
    return f"""\
name: "slowt"
max_batch_size: 1
instance_group [ {{ count: 1 }} ]
dynamic_batching {{
  default_queue_policy {{
    timeout_action: {action}
    default_timeout_microseconds: 100000
  }}
}}
"""


@pytest.mark.parametrize("action", ["REJECT", "DELAY"])
def test_queue_timeout_action(keel_server, tmp_path, action):
    """Requests waiting longer than default_timeout_microseconds (0.1 s) behind ~0.3 s executions: REJECT
    fails some of them (with an error body), DELAY still serves them all."""
    repo = tmp_path / "repo"
    su.add_model(repo, "slowt", su.make_slow_model(tmp_path / "slow.onnx", depth=128), config=_timeout_config(action))
    srv = keel_server(["--model-repository", repo], extra_args=["--threads", "1"])
    cfg = srv.get("/v2/models/slowt/config").json()
    policy = cfg["dynamic_batching"]["default_queue_policy"]
    assert policy.get("timeout_action") == action, policy
    assert int(policy["default_timeout_microseconds"]) == 100000, policy
    x = np.random.default_rng(9).standard_normal((1, 384, su.SLOW_WIDTH), dtype=np.float32)
    r, _ = su.infer_binary(requests, srv.url, "slowt", {"x": x})
    assert r.status_code == 200, r.text
    results = [None] * 6
    go = threading.Barrier(6, timeout=30)

    def one(i):
        go.wait()
        rr, out = su.infer_binary(requests, srv.url, "slowt", {"x": x}, timeout=60)
        results[i] = (rr.status_code, rr if rr.status_code != 200 else out)

    ths = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(6)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=90)
    assert all(res is not None for res in results)
    codes = [c for c, _ in results]
    for c, b in results:
        if c == 200:
            assert np.allclose(b["y"], x, atol=1e-4)
        else:
            assert su.error_message(b)
    if action == "DELAY":
        assert codes == [200] * 6, codes
    else:
        assert 200 in codes and any(c != 200 for c in codes), codes
        assert set(codes) <= {200, 503}, codes


def test_config_dynamic_batching_matches_behaviour_for_unconfigured_model(keel_server, tmp_path):
    """A model without config.pbtxt whose first dim is dynamic: if GET .../config lists dynamic_batching (as
    perf_analyzer reads it), concurrent requests on its instance must be batched; if not, they must not be."""
    repo = tmp_path / "repo"
    su.add_model(repo, "slowd", su.make_slow_model(tmp_path / "slow.onnx", depth=128))
    srv = keel_server(["--model-repository", repo], extra_args=["--threads", "1"])
    cfg = srv.get("/v2/models/slowd/config").json()
    mbs = int(cfg.get("max_batch_size", 0))
    if mbs < 2:
        pytest.skip(f"max_batch_size {mbs}: nothing to batch")
    x = np.zeros((1, 256, su.SLOW_WIDTH), dtype=np.float32)
    r, _ = su.infer_binary(requests, srv.url, "slowd", {"x": x})
    assert r.status_code == 200, r.text
    before = su.get_metrics(srv.url + "/metrics")
    go = threading.Barrier(4, timeout=30)
    codes = []

    def one():
        go.wait()
        rr, _ = su.infer_binary(requests, srv.url, "slowd", {"x": x}, timeout=60)
        codes.append(rr.status_code)

    ths = [threading.Thread(target=one, daemon=True) for _ in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=60)
    assert codes == [200] * 4, codes
    after = su.get_metrics(srv.url + "/metrics")
    d_exec = after.value("keel_inference_exec_count", model="slowd") - before.value("keel_inference_exec_count",
                                                                                    model="slowd")
    n_inst = sum(int(g.get("count", 1)) for g in cfg.get("instance_group", [{"count": 1}]))
    if "dynamic_batching" in cfg:
        assert d_exec < 4, (f"config lists dynamic_batching {cfg['dynamic_batching']} ({n_inst} instance(s)) "
                            f"but 4 concurrent requests took {d_exec:.0f} executions")
    else:
        assert d_exec == 4, f"no dynamic_batching in the config, yet 4 requests took {d_exec:.0f} executions"
