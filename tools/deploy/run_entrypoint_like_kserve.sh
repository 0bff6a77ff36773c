#!/usr/bin/env bash
# CI check for the KServe recipe: runs the container's entrypoint (tools/deploy/keel-entrypoint.sh)
# with the arguments KServe would give it, against a build tree instead of the image.
#   tools/deploy/run_entrypoint_like_kserve.sh BUILD_DIR        (e.g. build/release)
#
# For each of two model layouts that KServe's storage initializer can leave in /mnt/models for a
# single-model InferenceService (the storageUri folder's content: model.onnx, or Triton's
# 1/model.onnx), this script
#   1. lays out models/mobilenet_tiny/model.onnx that way in a temp dir standing in for /mnt/models;
#   2. reads the kserve-container's args from tools/deploy/kserve/servingruntime.yaml and renders
#      them as KServe does for an InferenceService named `mobilenet` ({{.Name}} -> mobilenet);
#   3. changes only what a shared CI machine needs: /mnt/models becomes the temp dir, the ports
#      8080/9000/8002 become free ports (several CI jobs share this machine, so fixed ports could
#      collide), and `--http-address 127.0.0.1` is added so that the listeners stay on loopback (in
#      the pod keel listens on its default, 0.0.0.0); every other argument is passed exactly as
#      written in the YAML;
#   4. runs KEEL_BIN=BUILD_DIR/bin/keel tools/deploy/keel-entrypoint.sh ARGS... in the background;
#   5. checks: ready within 60 s (and live), GET /v2/models/mobilenet, one JSON inference (zeros,
#      FP32, shape from the metadata), /metrics on the metrics port has keel_ metrics, and SIGTERM
#      makes it exit 0 within 30 s.
# Loopback only (127.0.0.1); every wait is bounded. Needs python3 (PyYAML is used when present,
# otherwise the args list is read with a strict line parser that refuses what it does not know).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
keel_bin=$(cd "$1" && pwd)/bin/keel
if [[ ! -x "$keel_bin" ]]; then
  echo "run_entrypoint_like_kserve: no executable $keel_bin" >&2
  exit 1
fi

exec python3 - "$root" "$keel_bin" <<'PY'
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT, KEEL_BIN = Path(sys.argv[1]), sys.argv[2]
RUNTIME_YAML = ROOT / "tools" / "deploy" / "kserve" / "servingruntime.yaml"
ENTRYPOINT = ROOT / "tools" / "deploy" / "keel-entrypoint.sh"
MODEL = ROOT / "models" / "mobilenet_tiny" / "model.onnx"
ISVC_NAME = "mobilenet"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# KServe's fixed ports in the ServingRuntime, by flag; each is remapped to a free loopback port.
PORT_FLAGS = {"--http-port": "8080", "--grpc-port": "9000", "--metrics-port": "8002"}

passed = failed = 0


def check(ok: bool, what: str, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"  PASS {what}")
    else:
        failed += 1
        print(f"  FAIL {what}{': ' + detail if detail else ''}")
    return ok


# ---- the ServingRuntime's args ------------------------------------------------------------------

def container_args_yaml(text: str):
    import yaml

    doc = yaml.safe_load(text)
    containers = doc["spec"]["containers"]
    container = next(c for c in containers if c["name"] == "kserve-container")
    return [str(a) for a in container["args"]]


def container_args_plain(text: str):
    """The `args:` block list of the kserve-container, read line by line (no PyYAML).

    Accepts only `- item` lines with plain, single- or double-quoted scalars and trailing comments;
    anything else inside the list is an error rather than a guess."""
    lines = text.splitlines()
    in_container = False
    for i, line in enumerate(lines):
        if re.match(r"^\s*-\s+name:\s*kserve-container\s*$", line):
            in_container = True
        m = re.match(r"^(\s*)args:\s*$", line)
        if in_container and m:
            indent = None
            args = []
            for item in lines[i + 1 :]:
                if not item.strip() or item.strip().startswith("#"):
                    continue
                mi = re.match(r"^(\s*)-\s+(.*)$", item)
                if not mi or (indent is not None and len(mi.group(1)) != indent):
                    if len(item) - len(item.lstrip()) <= len(m.group(1)):
                        break  # the next key of the container
                    raise SystemExit(f"servingruntime.yaml: cannot read args line {item!r}")
                indent = len(mi.group(1))
                value = mi.group(2)
                q = re.match(r'^"((?:[^"\\]|\\.)*)"\s*(#.*)?$', value) or re.match(r"^'([^']*)'\s*(#.*)?$", value)
                if q:
                    args.append(q.group(1))
                else:
                    plain = re.sub(r"\s+#.*$", "", value).strip()
                    if not plain or plain[0] in "[{&*!|>%@`\"'":
                        raise SystemExit(f"servingruntime.yaml: cannot read args item {value!r}")
                    args.append(plain)
            return args
    raise SystemExit("servingruntime.yaml: no args list in the kserve-container")


def runtime_args():
    text = RUNTIME_YAML.read_text()
    try:
        import yaml  # noqa: F401
    except ImportError:
        print("(PyYAML absent: reading the args list with the line parser)")
        return container_args_plain(text)
    args = container_args_yaml(text)
    assert container_args_plain(text) == args, "line parser and PyYAML disagree on the args"
    return args


def render(args, name: str):
    """Go template rendering as KServe does it for the fields used here: {{.Name}} only."""
    out = [re.sub(r"\{\{\s*\.Name\s*\}\}", name, a) for a in args]
    left = [a for a in out if "{{" in a]
    if left:
        raise SystemExit(f"servingruntime.yaml: template fields this check does not render: {left}")
    return out


def remap(args, models_dir: str, ports: dict):
    """/mnt/models -> models_dir, each KServe port -> a free port, listeners on loopback; nothing else."""
    out, seen, i = [], set(), 0
    while i < len(args):
        a = args[i]
        if a == "/mnt/models" or a.startswith("/mnt/models/"):
            out.append(models_dir + a[len("/mnt/models"):])
        elif a in PORT_FLAGS and i + 1 < len(args):
            if args[i + 1] != PORT_FLAGS[a]:
                raise SystemExit(f"servingruntime.yaml: {a} {args[i + 1]}, this check expects {PORT_FLAGS[a]}")
            out += [a, str(ports[a])]
            seen.add(a)
            i += 1
        elif a.split("=", 1)[0] in PORT_FLAGS:
            flag, value = a.split("=", 1)
            if value != PORT_FLAGS[flag]:
                raise SystemExit(f"servingruntime.yaml: {a}, this check expects {PORT_FLAGS[flag]}")
            out.append(f"{flag}={ports[flag]}")
            seen.add(flag)
        else:
            out.append(a)
        i += 1
    missing = set(PORT_FLAGS) - seen
    if missing:
        raise SystemExit(f"servingruntime.yaml: args have no {sorted(missing)}")
    if models_dir not in " ".join(out):
        raise SystemExit("servingruntime.yaml: args do not name /mnt/models")
    if any(a.split("=", 1)[0] == "--http-address" for a in args):
        raise SystemExit("servingruntime.yaml: sets --http-address, which this check replaces with 127.0.0.1")
    return out + ["--http-address", HOST]  # loopback only on the CI machine


# ---- HTTP on loopback ---------------------------------------------------------------------------

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def http(method: str, port: int, path: str, body=None, timeout: float = 10.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def free_ports(n: int):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# ---- one run -------------------------------------------------------------------------------------

def run(layout: str, relative_model: str) -> None:
    print(f"layout '{layout}': /mnt/models/{relative_model}")
    tmp = Path(tempfile.mkdtemp(prefix="keel-kserve-"))
    failed_before = failed
    proc = log = None
    log_path = tmp / "server.log"
    try:
        models_dir = tmp / "mnt-models"
        target = models_dir / relative_model
        target.parent.mkdir(parents=True)
        shutil.copyfile(MODEL, target)
        ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS))))
        http_port, metrics_port = ports["--http-port"], ports["--metrics-port"]
        args = remap(render(runtime_args(), ISVC_NAME), str(models_dir), ports)
        print("  $ KEEL_BIN=" + KEEL_BIN + " " + str(ENTRYPOINT) + " " + " ".join(args))
        env = dict(os.environ, KEEL_BIN=KEEL_BIN)
        log = open(log_path, "wb")
        proc = subprocess.Popen([str(ENTRYPOINT), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

        # 1. ready (bounded), and live.
        deadline, status = time.monotonic() + READY_TIMEOUT_S, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = http("GET", http_port, "/v2/health/ready", timeout=2.0)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        live = None
        if status == 200:
            try:
                live, _ = http("GET", http_port, "/v2/health/live")
            except OSError as e:
                live = repr(e)
        ok = check(status == 200 and live == 200, "GET /v2/health/ready 200 within 60 s, /v2/health/live 200",
                   f"ready {status}, live {live}, exit code {proc.poll()}")
        if not ok:
            for what in ("model metadata", "inference", "metrics", "SIGTERM -> exit 0"):
                check(False, what, "not run: the server never became ready")
            return

        # 2. model metadata.
        status, body = http("GET", http_port, f"/v2/models/{ISVC_NAME}")
        meta = json.loads(body) if status == 200 else {}
        check(status == 200 and meta.get("name") == ISVC_NAME, f"GET /v2/models/{ISVC_NAME} names it",
              f"{status} {body[:300]!r}")

        # 3. one JSON inference: zeros, FP32, the metadata's shape with batch 1.
        try:
            inp = next(i for i in meta["inputs"] if i["name"] == "input")
            shape = [1 if d < 0 else int(d) for d in inp["shape"]]
            count = 1
            for d in shape:
                count *= d
            request = {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": [0.0] * count}]}
            status, body = http("POST", http_port, f"/v2/models/{ISVC_NAME}/infer", request, timeout=30.0)
            reply = json.loads(body) if status == 200 else {}
            outputs = reply.get("outputs")
            ok = (status == 200 and isinstance(outputs, list) and outputs
                  and all(len(o.get("data", [])) == _prod(o.get("shape", [])) for o in outputs))
            check(bool(ok), f"POST /v2/models/{ISVC_NAME}/infer {shape} FP32 zeros -> outputs",
                  f"{status} {body[:300]!r}")
        except (KeyError, StopIteration, TypeError, ValueError) as e:
            check(False, f"POST /v2/models/{ISVC_NAME}/infer", f"metadata without input 'input' shape: {e!r}")

        # 4. Prometheus metrics on the metrics port.
        try:
            status, body = http("GET", metrics_port, "/metrics")
            text = body.decode(errors="replace")
            check(status == 200 and re.search(r"^keel_\w+", text, re.M) is not None,
                  f"GET :{metrics_port}/metrics has keel_ metrics", f"{status} {text[:300]!r}")
        except OSError as e:
            check(False, f"GET :{metrics_port}/metrics", repr(e))

        # 5. SIGTERM -> exit 0 (the kubelet's stop).
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=STOP_TIMEOUT_S)
            check(rc == 0, "SIGTERM -> exit code 0 within 30 s", f"exit code {rc}")
        except subprocess.TimeoutExpired:
            check(False, "SIGTERM -> exit code 0 within 30 s", "still running after 30 s")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if log is not None:
            log.close()
        if failed > failed_before:
            print("  server log (last 40 lines):")
            for line in log_path.read_text(errors="replace").splitlines()[-40:] if log_path.exists() else []:
                print("    | " + line)
        shutil.rmtree(tmp, ignore_errors=True)


def _prod(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


run("storageUri folder with model.onnx", "model.onnx")
run("Triton version folder", "1/model.onnx")
print(f"kserve entrypoint: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
