#!/usr/bin/env python3
"""keel serve against in-process keel and against the kserve SDK's server wrapping ONNX Runtime.

Three tables, each measured side by side in one run with interleaved rounds (medians quoted):
  overhead   p50 through HTTP (binary tensors) and gRPC at concurrency 1, minus in-process
             `keel bench` p50, on the committed 64x64 model; plus the time to move a 224x224
             image's 602 KB over loopback and back (a socket echo), which bounds any server.
  batching   images/s at concurrency 16 with dynamic batching against the best in-process
             batch size (`keel bench --batch B`), with the mean batch the server formed.
  peer       keel serve against the kserve SDK + ONNX Runtime server: closed-loop load (binary
             inputs, JSON outputs, the wire format tritonclient sends) at concurrency 1 and 16,
             same model and threads.
Load for the batching and peer tables comes from keel_load (bench/serve/keel_load.cpp, C++
clients), so the Python client's own CPU time on the same two cores does not bound the figures;
the overhead table also gives tritonclient's HTTP and gRPC latencies.

    bench/serve/run_serve_bench.sh [--zoo models/zoo] [--threads 2] [--rounds 3]
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, path="/v2/health/ready", timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready in time")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


class KeelServer:
    def __init__(self, keel, model, threads, max_batch):
        self.dir = tempfile.mkdtemp(prefix="keel_bench_")
        os.makedirs(os.path.join(self.dir, "m", "1"))
        os.symlink(os.path.abspath(model), os.path.join(self.dir, "m", "1", "model.onnx"))
        cfg = f"max_batch_size: {max_batch}\n"
        if max_batch > 0:
            cfg += "dynamic_batching { }\n"
        with open(os.path.join(self.dir, "m", "config.pbtxt"), "w") as f:
            f.write(cfg)
        self.http, self.grpc = free_port(), free_port()
        self.proc = subprocess.Popen(
            [keel, "serve", "--model-repository", self.dir, "--http-address", "127.0.0.1",
             "--http-port", str(self.http), "--grpc-port", str(self.grpc), "--metrics-port", "-1",
             "--threads", str(threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.http, self.proc)

    def metric(self, name):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics").read().decode()
        m = re.search(rf'^{name}{{model="m",version="1"}} (\S+)$', text, re.M)
        return float(m.group(1))

    def close(self):
        stop(self.proc)


class PeerServer:
    def __init__(self, python, model, threads):
        self.http = free_port()
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [python, os.path.join(HERE, "kserve_ort_peer.py"), model, "--name", "m",
             "--http-port", str(self.http), "--threads", str(threads)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_ready(self.http, self.proc, "/v2/models/m/ready")

    def close(self):
        stop(self.proc)


def closed_loop(port, x, concurrency, requests, binary_output=True, protocol="http"):
    """Latencies (s) of `requests` requests from `concurrency` closed-loop clients, and wall s."""
    per = max(1, requests // concurrency)
    lat = [[] for _ in range(concurrency)]
    errors = []

    def client(k):
        try:
            if protocol == "grpc":
                c = tgrpc.InferenceServerClient(f"127.0.0.1:{port}")
                inp = tgrpc.InferInput("input", list(x.shape), "FP32")
                out = [tgrpc.InferRequestedOutput("output")]
            else:
                c = thttp.InferenceServerClient(f"127.0.0.1:{port}")
                inp = thttp.InferInput("input", list(x.shape), "FP32")
                out = [thttp.InferRequestedOutput("output", binary_data=binary_output)]
            inp.set_data_from_numpy(x)
            for _ in range(3):
                c.infer("m", [inp], outputs=out)
            for _ in range(per):
                t = time.perf_counter()
                c.infer("m", [inp], outputs=out)
                lat[k].append(time.perf_counter() - t)
        except Exception as e:  # a failed request is a failed benchmark
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(errors[0])
    flat = sorted(v for l in lat for v in l)
    return flat, wall


def load(keel_load, port, npy, concurrency, requests, json_output=False):
    """keel_load (bench/serve/keel_load.cpp): closed-loop C++ HTTP clients, binary inputs."""
    cmd = [keel_load, "--port", str(port), "--model", "m", "--input", npy,
           "--concurrency", str(concurrency), "--requests", str(requests)]
    if json_output:
        cmd.append("--json-output")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def pct(values, p):
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def inproc(keel, model, threads, batch=None, seconds=2.0):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [keel, "bench", model, "--threads", str(threads), "--time", str(seconds), "--json", f.name]
        if batch:
            cmd += ["--batch", str(batch)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        j = json.load(open(f.name))
    return j["latency_p50_ms"], j["throughput_ips"] * (batch or 1)


def echo_p50(nbytes, rounds=300):
    """p50 of sending nbytes over loopback and receiving them back (a trivial echo server)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(nbytes)
        view = memoryview(buf)
        for _ in range(rounds + 5):
            got = 0
            while got < nbytes:
                got += conn.recv_into(view[got:])
            conn.sendall(buf)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    c = socket.create_connection(srv.getsockname())
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = os.urandom(nbytes)
    back = bytearray(nbytes)
    view = memoryview(back)
    lat = []
    for i in range(rounds + 5):
        t0 = time.perf_counter()
        c.sendall(payload)
        got = 0
        while got < nbytes:
            got += c.recv_into(view[got:])
        if i >= 5:
            lat.append(time.perf_counter() - t0)
    t.join()
    c.close()
    srv.close()
    return statistics.median(lat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keel", default=os.path.join(ROOT, "build/release/bin/keel"))
    ap.add_argument("--keel-load", default=os.path.join(ROOT, "build/release/bin/keel_load"))
    ap.add_argument("--zoo", default=os.path.join(ROOT, "models/zoo"))
    ap.add_argument("--models", default="mobilenet_v2,resnet50")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=400, help="requests per closed-loop measurement")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    T = args.threads
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": T,
               "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" \t:")}

    # --- overhead ---------------------------------------------------------------------------
    tiny = os.path.join(ROOT, "models/resnet_tiny/model.onnx")
    x = np.load(os.path.join(ROOT, "models/resnet_tiny/inputs/input.npy"))
    srv = KeelServer(args.keel, tiny, T, max_batch=0)
    tiny_x = os.path.join(ROOT, "models/resnet_tiny/inputs/input.npy")
    rows = {"inproc": [], "http": [], "grpc": [], "http_cpp": []}
    try:
        for _ in range(args.rounds):
            rows["inproc"].append(inproc(args.keel, tiny, T)[0] * 1e3)
            rows["http_cpp"].append(load(args.keel_load, srv.http, tiny_x, 1, args.requests)["p50_ms"] * 1e3)
            lat, _ = closed_loop(srv.http, x, 1, args.requests)
            rows["http"].append(statistics.median(lat) * 1e6)
            lat, _ = closed_loop(srv.grpc, x, 1, args.requests, protocol="grpc")
            rows["grpc"].append(statistics.median(lat) * 1e6)
    finally:
        srv.close()
    med = {k: statistics.median(v) for k, v in rows.items()}
    results["overhead"] = {
        "model": "resnet_tiny [1,3,64,64]", "inproc_p50_us": med["inproc"],
        "http_p50_us": med["http"], "grpc_p50_us": med["grpc"],
        "http_cpp_client_p50_us": med["http_cpp"],
        "http_cpp_minus_inproc_us": med["http_cpp"] - med["inproc"],
        "http_minus_inproc_us": med["http"] - med["inproc"],
        "grpc_minus_inproc_us": med["grpc"] - med["inproc"],
        "echo_602KB_p50_us": echo_p50(3 * 224 * 224 * 4) * 1e6,
        "echo_49KB_p50_us": echo_p50(x.nbytes) * 1e6}
    print(json.dumps(results["overhead"], indent=1), flush=True)

    # --- batching and peer --------------------------------------------------------------------
    peer_python = sys.executable
    results["batching"], results["peer"] = [], []
    for name in args.models.split(","):
        model = os.path.join(args.zoo, name, "model.onnx")
        if not os.path.exists(model):
            print(f"skip {name}: {model} not generated (models/generate_zoo.py)")
            continue
        npy = os.path.join(args.zoo, name, "inputs", "input.npy")
        best = {}
        served, batch_means = [], []
        for _ in range(args.rounds):
            for b in (1, 2, 4, 8):
                best.setdefault(b, []).append(inproc(args.keel, model, T, batch=b)[1])
            srv = KeelServer(args.keel, model, T, max_batch=8)
            try:
                c0, e0 = srv.metric("keel_inference_count"), srv.metric("keel_inference_exec_count")
                served.append(load(args.keel_load, srv.http, npy, 16, args.requests)["rps"])
                c1, e1 = srv.metric("keel_inference_count"), srv.metric("keel_inference_exec_count")
                batch_means.append((c1 - c0) / max(1, e1 - e0))
            finally:
                srv.close()
        best_b = max(best, key=lambda b: statistics.median(best[b]))
        row = {"model": name, "inproc_best_batch": best_b,
               "inproc_best_ips": statistics.median(best[best_b]),
               "inproc_ips_by_batch": {b: statistics.median(v) for b, v in best.items()},
               "served_c16_ips": statistics.median(served),
               "mean_batch": statistics.median(batch_means)}
        row["ratio"] = row["served_c16_ips"] / row["inproc_best_ips"]
        results["batching"].append(row)
        print(json.dumps(row), flush=True)
        if name != "mobilenet_v2":
            continue
        # Peer: both servers, concurrency 1 and 16, JSON outputs, interleaved rounds.
        stats = {}
        for _ in range(args.rounds):
            for kind in ("keel", "peer"):
                s = KeelServer(args.keel, model, T, max_batch=8) if kind == "keel" else \
                    PeerServer(peer_python, model, T)
                try:
                    for c in (1, 16):
                        n = max(4 * c, args.requests // (4 if kind == "peer" else 1))
                        r = load(args.keel_load, s.http, npy, c, n, json_output=True)
                        stats.setdefault((kind, c), []).append((r["rps"], r["p50_ms"], r["p99_ms"]))
                finally:
                    s.close()
        for c in (1, 16):
            row = {"model": name, "concurrency": c}
            for kind in ("keel", "peer"):
                v = stats[(kind, c)]
                row[kind] = {"rps": statistics.median(t[0] for t in v),
                             "p50_ms": statistics.median(t[1] for t in v),
                             "p99_ms": statistics.median(t[2] for t in v)}
            row["throughput_x"] = row["keel"]["rps"] / row["peer"]["rps"]
            row["p99_ratio"] = row["keel"]["p99_ms"] / row["peer"]["p99_ms"]
            results["peer"].append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
