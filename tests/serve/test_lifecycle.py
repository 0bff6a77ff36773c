"""Process lifecycle: SIGTERM drains in-flight requests and exits 0; poll mode adds and removes models and
versions without failing requests; broken models fail alone; single-model mode; JSON logs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest
import requests

import serve_util as su


def _connect_refused(port: int) -> bool:
    try:
        with socket.create_connection((su.HOST, port), timeout=2):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    except OSError:
        return True


# --- SIGTERM -----------------------------------------------------------------------------------------------------

def test_sigterm_when_idle_exits_0_quickly(keel_server, main_repository):
    s = keel_server(["--model-repository", main_repository])
    t0 = time.monotonic()
    rc = s.stop()
    assert rc == 0, f"exit code {rc}"
    assert time.monotonic() - t0 < 10, "an idle server took more than 10 s to exit after SIGTERM"
    assert _connect_refused(s.http_port)


def test_sigterm_drains_inflight_requests(keel_server, tmp_path):
    repo = tmp_path / "repo"
    su.add_model(repo, "slow", su.make_slow_model(tmp_path / "slow.onnx", depth=128))
    s = keel_server(["--model-repository", repo], extra_args=["--threads", "1", "--exit-timeout-secs", "30"])
    # ~0.2 s of compute from a small (512 KB) body, so that a request is on the server within ms of being sent
    x = np.random.default_rng(2).standard_normal((1, 256, su.SLOW_WIDTH), dtype=np.float32)
    r, _ = su.infer_binary(requests, s.url, "slow", {"x": x})
    assert r.status_code == 200, r.text

    log: list[tuple[float, float, str]] = []  # (start, end, outcome)
    lock = threading.Lock()
    stop_at = [time.monotonic() + 60]

    def client():
        with requests.Session() as sess:
            for _ in range(500):
                if time.monotonic() > stop_at[0]:
                    return
                t0 = time.monotonic()
                try:
                    rr, out = su.infer_binary(sess, s.url, "slow", {"x": x}, timeout=30)
                    outcome = str(rr.status_code)
                    if rr.status_code == 200 and not np.array_equal(out["y"], x):
                        outcome = "wrong-output"
                except requests.ConnectionError:
                    outcome = "conn-error"
                except requests.RequestException as e:
                    outcome = f"{type(e).__name__}"
                with lock:
                    log.append((t0, time.monotonic(), outcome))
                if outcome not in ("200",):
                    if outcome == "conn-error" and not s.alive():
                        return
                    time.sleep(0.02)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for th in threads:
        th.start()
    time.sleep(1.2)
    t_sig = time.monotonic()
    s.terminate()
    # A new client during the drain: refused, or answered 503 (or, at worst, served), never hung.
    time.sleep(0.03)
    late = None
    try:
        late_r, _ = su.infer_binary(requests, s.url, "slow", {"x": x}, timeout=30)
        late = late_r.status_code
    except requests.ConnectionError:
        late = "refused"
    rc = s.wait_exit(30)
    stop_at[0] = time.monotonic()
    for th in threads:
        th.join(timeout=35)
    assert rc == 0, f"exit code {rc} after SIGTERM with requests in flight (None: not within 30 s)"

    before = [e for e in log if e[0] < t_sig - 0.1]  # sent (and received) well before the signal
    inflight = [e for e in before if e[1] > t_sig]
    assert inflight, "no request was in flight at SIGTERM (the test did not test the drain)"
    bad_inflight = [e for e in before if e[2] != "200"]
    assert not bad_inflight, f"requests sent before SIGTERM failed: {bad_inflight[:5]} (t_sig={t_sig:.3f})"
    odd = [e for e in log if e[2] not in ("200", "503", "conn-error")]
    assert not odd, f"unexpected outcomes: {odd[:5]}"
    assert late in ("refused", 503), f"a new request after SIGTERM got {late}, want refused or 503"
    assert _connect_refused(s.http_port), "the HTTP port still accepts connections after exit"


def test_exit_timeout_bounds_the_drain(keel_server, tmp_path):
    """--exit-timeout-secs 1 with far more queued work than that: the process is gone after about 1 s plus
    the one execution that cannot be interrupted."""
    repo = tmp_path / "repo"
    su.add_model(repo, "slow", su.make_slow_model(tmp_path / "slow.onnx", depth=128))
    s = keel_server(["--model-repository", repo], extra_args=["--threads", "1", "--exit-timeout-secs", "1"])
    x = np.zeros((1, 256, su.SLOW_WIDTH), dtype=np.float32)
    t0 = time.monotonic()
    r, _ = su.infer_binary(requests, s.url, "slow", {"x": x}, timeout=60)
    t_single = time.monotonic() - t0
    assert r.status_code == 200, r.text
    n = 32

    def client():
        try:
            su.infer_binary(requests, s.url, "slow", {"x": x}, timeout=60)
        except requests.RequestException:
            pass

    threads = [threading.Thread(target=client, daemon=True) for _ in range(n)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    s.terminate()
    rc = s.wait_exit(30)
    took = time.monotonic() - t0
    for th in threads:
        th.join(timeout=30)
    bound = 1 + 3 * t_single + 1.0
    assert rc is not None, "still running 30 s after SIGTERM with --exit-timeout-secs 1"
    assert took < bound, (f"exit took {took:.1f} s with --exit-timeout-secs 1 (one request: {t_single:.2f} s, "
                          f"{n} queued: ~{n * t_single:.1f} s of work)")


# --- poll mode ---------------------------------------------------------------------------------------------------

def _poll_server(keel_server, repo, ready_path="/v2/health/ready"):
    return keel_server(["--model-repository", repo],
                       extra_args=["--model-control-mode", "poll", "--repository-poll-secs", "1"],
                       ready_path=ready_path)


def _wait_for(cond, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / 0.1) + 1):
        if cond():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout_s:.0f} s")


def _versions(s, model):
    r = s.get(f"/v2/models/{model}")
    return [str(v) for v in r.json().get("versions", [])] if r.status_code == 200 else []


def test_poll_mode_adds_a_version_without_failing_requests(keel_server, tmp_path, resnet_input, resnet_reference):
    repo = tmp_path / "repo"
    su.add_model(repo, "m", su.RESNET / "model.onnx", copy=True)
    s = _poll_server(keel_server, repo)
    failures: list[str] = []
    counts = [0] * 4
    stop = threading.Event()

    def client(i):
        with requests.Session() as sess:
            for _ in range(5000):
                if stop.is_set():
                    return
                try:
                    r, out = su.infer_binary(sess, s.url, "m", {"input": resnet_input}, timeout=30)
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    elif not su.same_bits(out["output"], resnet_reference):
                        failures.append("wrong output: " + su.describe_diff(out["output"], resnet_reference))
                    counts[i] += 1
                except requests.RequestException as e:
                    failures.append(f"{type(e).__name__}: {e}")
                if len(failures) > 20:
                    return

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for th in threads:
        th.start()
    try:
        time.sleep(0.7)
        stage = tmp_path / "stage" / "2"
        stage.mkdir(parents=True)
        shutil.copyfile(su.RESNET / "model.onnx", stage / "model.onnx")
        os.rename(stage, repo / "m" / "2")  # appears whole
        _wait_for(lambda: "2" in _versions(s, "m"), 15, "version 2 in GET /v2/models/m")
        _wait_for(lambda: s.get("/v2/models/m/versions/2/ready").status_code == 200, 15, "versions/2 ready")
        time.sleep(1.5)  # the poller's next round, with the requests still running
        assert s.get("/v2/health/ready").status_code == 200
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=35)
    assert not failures, f"{len(failures)} requests failed during the reload: {failures[:5]}"
    assert sum(counts) > 20, counts
    r, out = su.infer_binary(requests, s.url, "m", {"input": resnet_input}, version="2")
    assert r.status_code == 200, r.text
    assert su.same_bits(out["output"], resnet_reference)
    assert "2" in _versions(s, "m")


def test_poll_mode_broken_new_version_keeps_the_old_one_serving(keel_server, tmp_path, resnet_input,
                                                                resnet_reference):
    """A garbage version 2 fails to load; version 1 keeps serving every request meanwhile."""
    repo = tmp_path / "repo"
    su.add_model(repo, "m", su.RESNET / "model.onnx", copy=True)
    s = _poll_server(keel_server, repo)
    stage = tmp_path / "stage" / "2"
    stage.mkdir(parents=True)
    (stage / "model.onnx").write_bytes(b"\x08\x07garbage, not a model" * 100)
    os.rename(stage, repo / "m" / "2")
    failures = []
    t_end = time.monotonic() + 3.0  # three poll rounds
    with requests.Session() as sess:
        for _ in range(2000):
            if time.monotonic() > t_end:
                break
            r, out = su.infer_binary(sess, s.url, "m", {"input": resnet_input}, timeout=30)
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text[:200]}")
            elif not su.same_bits(out["output"], resnet_reference):
                failures.append("wrong output")
            time.sleep(0.01)
    assert not failures, f"{len(failures)} requests failed after a broken version appeared: {failures[:5]}"
    assert s.get("/v2/models/m/ready").status_code == 200
    assert s.get("/v2/models/m/versions/1/ready").status_code == 200
    assert s.get("/v2/models/m/versions/2/ready").status_code != 200


def test_poll_mode_reloads_a_replaced_model_file(keel_server, tmp_path, keel_run_ref, resnet_input,
                                                 resnet_reference):
    """Version 1's model.onnx is replaced (atomically) by mobilenet (same input and output shapes): the new
    model is served within a few polls, and no request fails or gets an answer from neither model."""
    mobilenet_ref = keel_run_ref(su.MOBILENET / "model.onnx", {"input": resnet_input})["output"]
    repo = tmp_path / "repo"
    su.add_model(repo, "m", su.RESNET / "model.onnx", copy=True)
    s = _poll_server(keel_server, repo)
    failures, seen_new = [], []
    stop = threading.Event()

    def client():
        with requests.Session() as sess:
            for _ in range(5000):
                if stop.is_set():
                    return
                try:
                    r, out = su.infer_binary(sess, s.url, "m", {"input": resnet_input}, timeout=30)
                except requests.RequestException as e:
                    failures.append(f"{type(e).__name__}: {e}")
                    return
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                elif su.same_bits(out["output"], mobilenet_ref):
                    seen_new.append(1)
                elif not su.same_bits(out["output"], resnet_reference):
                    failures.append("an answer from neither model")
                if len(failures) > 20:
                    return

    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for th in threads:
        th.start()
    try:
        time.sleep(0.5)
        tmp_file = repo / "m" / "1" / ".model.onnx.new"
        shutil.copyfile(su.MOBILENET / "model.onnx", tmp_file)
        os.replace(tmp_file, repo / "m" / "1" / "model.onnx")
        _wait_for(lambda: bool(seen_new), 15, "answers from the replaced model")
        time.sleep(1.0)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=35)
    assert not failures, f"{len(failures)} requests failed across the reload: {failures[:5]}"


def test_poll_mode_reloads_a_changed_config(keel_server, tmp_path):
    repo = tmp_path / "repo"
    su.add_model(repo, "m", su.RESNET / "model.onnx", copy=True,
                 config='name: "m"\nmax_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 100 }\n')
    s = _poll_server(keel_server, repo)
    assert int(s.get("/v2/models/m/config").json()["max_batch_size"]) == 8
    new = repo / "m" / ".config.pbtxt.new"
    new.write_text('name: "m"\nmax_batch_size: 2\n')
    os.replace(new, repo / "m" / "config.pbtxt")
    _wait_for(lambda: int(s.get("/v2/models/m/config").json().get("max_batch_size", 0)) == 2, 15,
              "max_batch_size 2 from the edited config.pbtxt")
    assert "dynamic_batching" not in s.get("/v2/models/m/config").json()
    x = np.zeros((3, 3, 64, 64), dtype=np.float32)
    r, _ = su.infer_binary(requests, s.url, "m", {"input": x})
    assert r.status_code == 400, f"batch 3 with max_batch_size 2: {r.status_code} {r.text[:200]}"
    assert s.get("/v2/models/m/ready").status_code == 200


def test_poll_mode_removed_model_becomes_unready_and_comes_back(keel_server, tmp_path):
    repo = tmp_path / "repo"
    su.add_model(repo, "a", su.MOBILENET / "model.onnx", copy=True)
    su.add_model(repo, "b", su.MOBILENET / "model.onnx", copy=True)
    s = _poll_server(keel_server, repo)
    assert s.get("/v2/models/b/ready").status_code == 200
    shutil.move(str(repo / "b"), str(tmp_path / "b_removed"))
    _wait_for(lambda: s.get("/v2/models/b/ready").status_code != 200, 15, "removed model b unready")
    assert s.get("/v2/models/a/ready").status_code == 200
    shutil.move(str(tmp_path / "b_removed"), str(repo / "b"))
    _wait_for(lambda: s.get("/v2/models/b/ready").status_code == 200, 15, "re-added model b ready")


def test_poll_mode_new_model_appears(keel_server, tmp_path):
    repo = tmp_path / "repo"
    su.add_model(repo, "a", su.MOBILENET / "model.onnx", copy=True)
    s = _poll_server(keel_server, repo)
    stage = tmp_path / "stage"
    su.add_model(stage, "late", su.RESNET / "model.onnx", copy=True)
    os.rename(stage / "late", repo / "late")
    _wait_for(lambda: s.get("/v2/models/late/ready").status_code == 200, 15, "new model `late` ready")


# --- broken models --------------------------------------------------------------------------------------------------

def test_broken_models_fail_alone(keel_server, tmp_path, resnet_input, resnet_reference):
    repo = tmp_path / "repo"
    su.add_model(repo, "good", su.RESNET / "model.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(bytes(range(256)) * 64)
    su.add_model(repo, "garbage", garbage)
    su.add_model(repo, "badcfg", su.RESNET / "model.onnx",
                 config='name: "badcfg"\nmax_batch_size: 8\nno_such_field_xyz: 1\n')
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    su.add_model(repo, "empty_file", empty)
    # A per-model memory limit below the model's weights: refused at load, by name.
    su.add_model(repo, "over_limit", su.RESNET / "model.onnx",
                 config='name: "over_limit"\nparameters {\n  key: "max_memory_bytes"\n'
                        '  value { string_value: "4K" }\n}\n')
    s = keel_server(["--model-repository", repo], ready_path="/v2/models/good/ready")
    assert s.get("/v2/models/good/ready").status_code == 200
    r, out = su.infer_binary(requests, s.url, "good", {"input": resnet_input})
    assert r.status_code == 200, r.text
    assert su.same_bits(out["output"], resnet_reference)
    for bad in ("garbage", "badcfg", "empty_file", "over_limit"):
        rr = s.get(f"/v2/models/{bad}/ready")
        assert rr.status_code != 200, f"{bad}: ready answered 200"
        ri = s.post(f"/v2/models/{bad}/infer", json=su.json_request({"input": resnet_input}))
        assert ri.status_code in (400, 404, 503), f"{bad}: infer answered {ri.status_code}"
    assert s.get("/v2/health/live").status_code == 200
    assert s.alive()
    assert "max_memory_bytes (4096 bytes)" in s.log_text()


# --- single-model mode -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["folder", "file", "version_folder"])
def test_single_model_mode(keel_server, tmp_path, form, resnet_input, resnet_reference):
    if form == "folder":
        path = su.RESNET
    elif form == "file":
        path = su.RESNET / "model.onnx"
    else:
        path = tmp_path / "mdl"
        (path / "3").mkdir(parents=True)
        (path / "3" / "model.onnx").symlink_to(su.RESNET / "model.onnx")
    s = keel_server([path, "--name", "tiny"])
    assert s.get("/v2/models/tiny/ready").status_code == 200
    r, out = su.infer_binary(requests, s.url, "tiny", {"input": resnet_input})
    assert r.status_code == 200, r.text
    assert su.same_bits(out["output"], resnet_reference)
    if form == "version_folder":
        assert "3" in _versions(s, "tiny")


# --- logs ---------------------------------------------------------------------------------------------------------------

def test_log_format_json_lines(keel_server, main_repository, resnet_input):
    s = keel_server(["--model-repository", main_repository], extra_args=["--log-format", "json", "--log-verbose"])
    su.infer_binary(requests, s.url, "resnet", {"input": resnet_input})
    s.post("/v2/models/resnet/infer", data=b"{bad")
    assert s.stop() == 0
    lines = [l for l in s.log_text().splitlines() if l.strip() and not l.startswith("$ ")]
    assert lines, "nothing logged with --log-verbose"
    bad = []
    for l in lines:
        try:
            if not isinstance(json.loads(l), dict):
                bad.append(l)
        except ValueError:
            bad.append(l)
    assert not bad, f"{len(bad)} of {len(lines)} log lines are not JSON objects: {bad[:5]}"
