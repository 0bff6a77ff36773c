"""A bounded load test: closed-loop clients (keel_load, C++) at concurrency 1, 4 and 16 with
batching off and on, a fixed number of requests each, on loopback. Zero failed requests, and the
server's resident memory after the runs within a bound of before; throughput and p50/p99 are
printed (targets live in bench/serve, not here)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

import serve_util as su

ROOT = Path(__file__).resolve().parents[2]
RESNET = ROOT / "models" / "resnet_tiny"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_closed_loop_load_batching_off_and_on(keel_server, tmp_path):
    keel_load = Path(os.environ["KEEL_BIN"]).with_name("keel_load")
    if not keel_load.exists():
        pytest.skip(f"{keel_load} is not built (KEEL_BUILD_BENCH=OFF)")
    repo = tmp_path / "repo"
    su.add_model(repo, "off", RESNET / "model.onnx", config="max_batch_size: 0\n")
    su.add_model(repo, "on", RESNET / "model.onnx",
                 config="max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 500 }\n")
    s = keel_server(["--model-repository", repo], extra_args=["--threads", "2"])
    x = RESNET / "inputs" / "input.npy"
    # One pass to reach steady state (plans for every batch size, buffers), then measure memory.
    for model in ("off", "on"):
        subprocess.run([keel_load, "--port", str(s.http_port), "--model", model, "--input", x,
                        "--concurrency", "16", "--requests", "160"], check=True, capture_output=True)
    before = rss_bytes(s.proc.pid)
    rows = []
    for model in ("off", "on"):
        for c in (1, 4, 16):
            out = subprocess.run([keel_load, "--port", str(s.http_port), "--model", model, "--input", x,
                                  "--concurrency", str(c), "--requests", "320"],
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            r = json.loads(out.stdout)
            assert r["failures"] == 0 and r["requests"] >= 300, r
            rows.append((model, c, r))
    after = rss_bytes(s.proc.pid)
    print("\nbatching concurrency  rps      p50 ms   p99 ms")
    for model, c, r in rows:
        print(f"{model:8s} {c:11d} {r['rps']:8.1f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f}")
    print(f"resident memory before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB")
    assert after - before < 32 * 2**20, (before, after)
    m = su.get_metrics(s.metrics_url)
    # Without batching every request is one execution; with it, concurrent requests share them.
    assert m.value("keel_inference_exec_count", model="off") == m.value("keel_inference_count", model="off")
    assert m.value("keel_inference_exec_count", model="on") < m.value("keel_inference_count", model="on")
    assert m.value("keel_inference_request_failure", model="on") == 0
