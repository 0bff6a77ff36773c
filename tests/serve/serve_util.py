"""Helpers for the `keel serve` end-to-end tests: the server process, tiny ONNX models, the KServe v2 wire
format (JSON and the binary tensor extension), a raw-socket HTTP client, and a Prometheus text parser.

Everything here talks to 127.0.0.1 only, and every loop is bounded in count and in time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
KEEL_BIN = Path(os.environ.get("KEEL_BIN", str(ROOT / "build" / "release" / "bin" / "keel")))
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

# Servers that are running, so that a failing test can show what they logged meanwhile.
LIVE_SERVERS: list["KeelServer"] = []

RESNET = MODELS / "resnet_tiny"
MOBILENET = MODELS / "mobilenet_tiny"

# name, op, numpy dtype, inputs: the dtype repository (all shapes [2, 3]).
DTYPE_MODELS = [
    ("add_i64", "Add", np.int64, 2),
    ("add_i32", "Add", np.int32, 2),
    ("add_f64", "Add", np.float64, 2),
    ("id_bool", "Identity", np.bool_, 1),
    ("id_u8", "Identity", np.uint8, 1),
    ("id_i8", "Identity", np.int8, 1),
    ("id_i16", "Identity", np.int16, 1),
    ("id_f16", "Identity", np.float16, 1),
]

# KServe v2 datatype <-> numpy.
NP_TO_V2 = {
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64",
    np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
}
V2_TO_NP = {v: k for k, v in NP_TO_V2.items()}


# --------------------------------------------------------------------------------------------------------------
# Ports and the server process
# --------------------------------------------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports: bind port 0 on 127.0.0.1 n times at once, note the ports, close."""
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


def keel_has_serve() -> tuple[bool, str]:
    if not KEEL_BIN.is_file():
        return False, f"{KEEL_BIN} does not exist (set KEEL_BIN)"
    try:
        r = subprocess.run([str(KEEL_BIN), "serve", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{KEEL_BIN} serve --help: {e}"
    if r.returncode != 0 or "--model-repository" not in r.stdout + r.stderr:
        return False, f"{KEEL_BIN} has no working `serve` subcommand (exit {r.returncode})"
    return True, ""


class ServerStartError(RuntimeError):
    pass


class KeelServer:
    """One `keel serve` process on free loopback ports, with its output in a log file."""

    def __init__(self, model_args: list[str], log_path: Path, extra_args: list[str] | None = None,
                 ready_path: str = "/v2/health/ready", grpc: bool = True, metrics: bool = True):
        self.model_args = [str(a) for a in model_args]
        self.extra_args = [str(a) for a in (extra_args or [])]
        self.log_path = Path(log_path)
        self.ready_path = ready_path
        self.want_grpc = grpc
        self.want_metrics = metrics
        self.proc: subprocess.Popen | None = None
        self.http_port = self.grpc_port = self.metrics_port = -1
        self.cmd: list[str] = []
        self.returncode: int | None = None

    # -- addresses
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def http_addr(self) -> str:
        return f"{HOST}:{self.http_port}"

    @property
    def grpc_addr(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- lifecycle
    def start(self) -> "KeelServer":
        last = ""
        for _attempt in range(3):  # a port picked by bind(0) may be taken by someone else before we use it
            self.http_port, g, m = free_ports(3)
            self.grpc_port = g if self.want_grpc else -1
            self.metrics_port = m if self.want_metrics else -1
            self.cmd = [str(KEEL_BIN), "serve", *self.model_args, "--http-address", HOST,
                        "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
                        "--metrics-port", str(self.metrics_port), *self.extra_args]
            with open(self.log_path, "ab") as log:
                log.write(("$ " + " ".join(self.cmd) + "\n").encode())
                log.flush()
                self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=str(ROOT))
            LIVE_SERVERS.append(self)
            try:
                self.wait_ready(self.ready_path, START_TIMEOUT_S)
                return self
            except ServerStartError as e:
                last = str(e)
                exited = self.proc.poll() is not None
                self.kill()
                if exited and "in use" in self.log_text().lower():
                    continue
                raise
        raise ServerStartError(last)

    def wait_ready(self, path: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        for _ in range(int(timeout_s / 0.05) + 1):
            if self.proc.poll() is not None:
                raise ServerStartError(f"keel serve exited with {self.proc.returncode} while starting:\n"
                                       + self.log_tail(60))
            try:
                r = requests.get(self.url + path, timeout=2)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                last = type(e).__name__
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise ServerStartError(f"GET {path} was not 200 within {timeout_s:.0f} s (last: {last}):\n"
                               + self.log_tail(60))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM (no waiting)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """The exit code, or None (and the process killed) when it did not exit in time."""
        try:
            self.returncode = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            self.returncode = None
        self._forget()
        return self.returncode

    def stop(self) -> int | None:
        """SIGTERM, then the exit code within STOP_TIMEOUT_S (None when it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            self._forget()
            return self.returncode
        self.terminate()
        return self.wait_exit(STOP_TIMEOUT_S)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._forget()

    def _forget(self) -> None:
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    # -- observation
    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_tail(self, lines: int = 80, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- convenience
    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 10)
        return requests.get(self.url + path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.post(self.url + path, **kw)


# --------------------------------------------------------------------------------------------------------------
# keel run (the reference every served output must equal bit for bit)
# --------------------------------------------------------------------------------------------------------------


def keel_run(model: Path, inputs: dict[str, np.ndarray], workdir: Path, extra: list[str] | None = None
             ) -> dict[str, np.ndarray]:
    """Runs `keel run MODEL -i NAME=FILE.npy ... -o DIR` and returns its outputs."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(KEEL_BIN), "run", str(model), "-o", str(workdir / "out")]
    for name, arr in inputs.items():
        p = workdir / f"in_{re.sub(r'[^A-Za-z0-9_]', '_', name)}.npy"
        np.save(p, arr)
        cmd += ["-i", f"{name}={p}"]
    cmd += list(extra or [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return {p.stem: np.load(p) for p in sorted((workdir / "out").glob("*.npy"))}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def describe_diff(got: np.ndarray, want: np.ndarray) -> str:
    if got.shape != want.shape or got.dtype != want.dtype:
        return f"got {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}"
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    diff = np.abs(g - w)
    n = int(np.count_nonzero(got.view(np.uint8).reshape(got.size, -1) != want.view(np.uint8).reshape(want.size, -1))
            if got.size else 0)
    return f"{n} of {got.size} elements differ; max abs diff {diff.max() if diff.size else 0:.3g}"


# --------------------------------------------------------------------------------------------------------------
# Tiny ONNX models and the model repository
# --------------------------------------------------------------------------------------------------------------


def _onnx():
    import onnx  # noqa: F401  (imported lazily: only the venv has it)
    from onnx import helper

    return onnx, helper


def onnx_type(dtype) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def make_elementwise_model(path: Path, op: str, dtype, n_inputs: int, shape: list) -> Path:
    """y = op(x0, x1, ...) (or y = op(x) with one input) of one dtype; opset 17, IR 8."""
    onnx, helper = _onnx()
    t = onnx_type(dtype)
    names = ["x"] if n_inputs == 1 else [f"x{i}" for i in range(n_inputs)]
    ins = [helper.make_tensor_value_info(n, t, shape) for n in names]
    out = helper.make_tensor_value_info("y", t, shape)
    graph = helper.make_graph([helper.make_node(op, names, ["y"])], f"{op.lower()}_model", ins, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_two_io_model(path: Path) -> Path:
    """Two float32 [2,3] inputs x0, x1 -> outputs sum = x0 + x1 and prod = x0 * x1."""
    onnx, helper = _onnx()
    from onnx import TensorProto

    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("x0", "x1")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("sum", "prod")]
    nodes = [helper.make_node("Add", ["x0", "x1"], ["sum"]), helper.make_node("Mul", ["x0", "x1"], ["prod"])]
    model = helper.make_model(helper.make_graph(nodes, "two_io", ins, outs),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


SLOW_WIDTH = 512


def make_slow_model(path: Path, depth: int = 32) -> Path:
    """x [batch, rows, 512] float32 -> y = x @ I @ I ... (depth MatMuls with the identity): y == x, and the
    time per request grows with rows * depth (about 0.2 ms per row at depth 32 on one core of the test
    machine)."""
    onnx, helper = _onnx()
    from onnx import TensorProto, numpy_helper

    n = SLOW_WIDTH
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "rows", n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "rows", n])
    w = numpy_helper.from_array(np.eye(n, dtype=np.float32), "w")
    nodes, prev = [], "x"
    for i in range(depth):
        out = "y" if i == depth - 1 else f"t{i}"
        nodes.append(helper.make_node("MatMul", [prev, "w"], [out]))
        prev = out
    model = helper.make_model(helper.make_graph(nodes, "slow", [x], [y], initializer=[w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def add_model(repo: Path, name: str, onnx_file: Path, version: int = 1, config: str | None = None,
              copy: bool = False) -> Path:
    """repo/name/version/model.onnx (a symlink unless copy) and, when given, repo/name/config.pbtxt."""
    vdir = repo / name / str(version)
    vdir.mkdir(parents=True, exist_ok=True)
    dst = vdir / "model.onnx"
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if copy:
        shutil.copyfile(onnx_file, dst)
    else:
        dst.symlink_to(Path(onnx_file).resolve())
    if config is not None:
        (repo / name / "config.pbtxt").write_text(config)
    return repo / name


RESNET_BATCHING_CONFIG = """\
name: "{name}"
max_batch_size: 8
input [
  {{
    name: "input"
    data_type: TYPE_FP32
    dims: [ 3, 64, 64 ]
  }}
]
output [
  {{
    name: "output"
    data_type: TYPE_FP32
    dims: [ 10 ]
  }}
]
instance_group [ {{ count: 1 }} ]
dynamic_batching {{
  max_queue_delay_microseconds: 2000
}}
"""

RESNET_BF16_CONFIG = """\
name: "{name}"
max_batch_size: 0
parameters {{
  key: "precision"
  value {{ string_value: "bf16" }}
}}
parameters {{
  key: "layout"
  value {{ string_value: "nhwc" }}
}}
"""

RESNET_NCHW_CONFIG = """\
name: "{name}"
max_batch_size: 0
parameters {{
  key: "layout"
  value {{ string_value: "nchw" }}
}}
"""


# --------------------------------------------------------------------------------------------------------------
# KServe v2 requests over `requests`
# --------------------------------------------------------------------------------------------------------------


def json_data(arr: np.ndarray) -> list:
    """A tensor as the flat, row-major JSON `data` list (exact: float32 values become their float64 twins)."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.dtype == np.float32 or flat.dtype == np.float16:
        return flat.astype(np.float64).tolist()
    return flat.tolist()


def json_request(inputs: dict[str, np.ndarray], outputs: list | None = None, request_id: str | None = None,
                 parameters: dict | None = None) -> dict:
    body: dict = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": NP_TO_V2[a.dtype],
                              "data": json_data(a)} for n, a in inputs.items()]}
    if request_id is not None:
        body["id"] = request_id
    if outputs is not None:
        body["outputs"] = outputs
    if parameters is not None:
        body["parameters"] = parameters
    return body


def binary_request(inputs: dict[str, np.ndarray], outputs: list | None = None, request_id: str | None = None,
                   binary_output: bool | None = True) -> tuple[bytes, dict]:
    """The binary tensor extension: JSON header, then each input's raw bytes; returns (body, headers)."""
    header: dict = {"inputs": []}
    blobs = []
    for n, a in inputs.items():
        raw = np.ascontiguousarray(a).tobytes()
        header["inputs"].append({"name": n, "shape": list(a.shape), "datatype": NP_TO_V2[a.dtype],
                                 "parameters": {"binary_data_size": len(raw)}})
        blobs.append(raw)
    if request_id is not None:
        header["id"] = request_id
    if outputs is not None:
        header["outputs"] = outputs
    if binary_output is not None:
        header["parameters"] = {"binary_data_output": binary_output}
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head)),
                                    "Content-Type": "application/octet-stream"}


def parse_infer_response(resp: requests.Response) -> tuple[dict, dict[str, np.ndarray]]:
    """(header JSON, {output name: array}) for a JSON or binary-extension infer response."""
    body = resp.content
    hlen = resp.headers.get("Inference-Header-Content-Length")
    hlen = int(hlen) if hlen is not None else len(body)
    header = json.loads(body[:hlen])
    arrays = {}
    offset = hlen
    for out in header.get("outputs", []):
        dtype = V2_TO_NP[out["datatype"]]
        shape = [int(d) for d in out["shape"]]
        params = out.get("parameters") or {}
        if "binary_data_size" in params:
            size = int(params["binary_data_size"])
            arr = np.frombuffer(body[offset:offset + size], dtype=dtype).reshape(shape)
            offset += size
        else:
            arr = np.array(out["data"], dtype=dtype).reshape(shape)
        arrays[out["name"]] = arr
    assert offset == len(body), f"{len(body) - offset} stray bytes after the outputs"
    return header, arrays


def infer_binary(session, base_url: str, model: str, inputs: dict[str, np.ndarray], version: str | None = None,
                 timeout: float = 30, **kw) -> tuple[requests.Response, dict[str, np.ndarray] | None]:
    body, headers = binary_request(inputs, **kw)
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    r = session.post(base_url + path, data=body, headers=headers, timeout=timeout)
    if r.status_code != 200:
        return r, None
    return r, parse_infer_response(r)[1]


def error_message(resp: requests.Response) -> str:
    """The `error` string of an error body {"error": "..."}; raises AssertionError when the body is not that."""
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {resp.content[:200]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], \
        f"error body is not {{\"error\": \"...\"}}: {body!r}"
    return body["error"]


# --------------------------------------------------------------------------------------------------------------
# Raw sockets
# --------------------------------------------------------------------------------------------------------------


class RawResponse:
    def __init__(self, status: int, reason: str, version: str, headers: dict[str, str], body: bytes):
        self.status, self.reason, self.version, self.headers, self.body = status, reason, version, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.version} {self.status} {self.reason} {self.body[:120]!r}>"


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline, self.buf, self.eof = sock, deadline, b"", False

    def _fill(self) -> bool:
        if self.eof:
            return False
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete response in time")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete response in time")
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def until(self, marker: bytes) -> bytes | None:
        for _ in range(100000):
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(marker):]
                return out
            if not self._fill():
                return None
        return None

    def exactly(self, n: int) -> bytes | None:
        for _ in range(100000):
            if len(self.buf) >= n:
                out, self.buf = self.buf[:n], self.buf[n:]
                return out
            if not self._fill():
                return None
        return None

    def rest(self) -> bytes:
        for _ in range(100000):
            if not self._fill():
                break
        out, self.buf = self.buf, b""
        return out


def read_response(reader: _Reader, head_request: bool = False) -> RawResponse | None:
    """One HTTP/1.x response from the reader, or None when the connection closed before a status line."""
    head = reader.until(b"\r\n\r\n")
    if head is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"(HTTP/\d\.\d) (\d{3}) ?(.*)", lines[0])
    if not m:
        raise AssertionError(f"not an HTTP status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    status = int(m.group(2))
    body = b""
    if head_request or status in (204, 304) or 100 <= status < 200:
        pass
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        for _ in range(100000):
            size_line = reader.until(b"\r\n")
            if size_line is None:
                break
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                reader.until(b"\r\n")
                break
            parts.append(reader.exactly(size) or b"")
            reader.until(b"\r\n")
        body = b"".join(parts)
    elif "content-length" in headers:
        body = reader.exactly(int(headers["content-length"])) or b""
    else:
        body = reader.rest()
    return RawResponse(status, m.group(3), m.group(1), headers, body)


def raw_exchange(port: int, data: bytes | list, n_responses: int = 1, timeout: float = 10.0,
                 pause_s: float = 0.0, shut_write: bool = False) -> tuple[list[RawResponse], bool]:
    """Sends data (bytes, or a list of parts sent with pause_s between them) on a new connection to
    127.0.0.1:port and reads up to n_responses responses. Returns (responses, closed): closed is True when
    the server closed the connection (before or after answering) within the timeout."""
    parts = data if isinstance(data, list) else [data]
    deadline = time.monotonic() + timeout
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i, p in enumerate(parts):
                if i and pause_s:
                    time.sleep(pause_s)
                s.sendall(p)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        reader = _Reader(s, deadline)
        out = []
        for _ in range(n_responses):
            try:
                r = read_response(reader)
            except TimeoutError:
                return out, False
            if r is None:
                return out, True
            out.append(r)
        # Did the server close after its answers? Look briefly (it need not).
        closed = False
        try:
            s.settimeout(0.2)
            closed = s.recv(1) == b""
        except (socket.timeout, BlockingIOError):
            closed = False
        except OSError:
            closed = True
        return out, closed


def headers_then_body(port: int, head: bytes, body: bytes, wait_s: float = 1.0, timeout: float = 10.0
                      ) -> tuple[RawResponse | None, bool]:
    """Sends the headers; when the server answers within wait_s (e.g. 413 from Content-Length alone) reads that
    answer without sending the body (so an early close cannot reset it away); otherwise sends the body and
    reads the answer. Returns (response or None, body_was_sent)."""
    import select

    deadline = time.monotonic() + timeout
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(head)
        readable, _, _ = select.select([s], [], [], wait_s)
        sent = False
        if not readable:
            try:
                s.sendall(body)
                sent = True
            except (BrokenPipeError, ConnectionResetError):
                pass
        try:
            return read_response(_Reader(s, deadline)), sent
        except TimeoutError:
            return None, sent


def http_request_bytes(method: str, path: str, body: bytes = b"", headers: dict | None = None,
                       version: str = "HTTP/1.1", content_length: bool = True, close: bool = True) -> bytes:
    lines = [f"{method} {path} {version}", f"Host: {HOST}"]
    hdrs = dict(headers or {})
    if content_length and not any(k.lower() == "content-length" for k in hdrs) and (body or method == "POST"):
        hdrs["Content-Length"] = str(len(body))
    if close and not any(k.lower() == "connection" for k in hdrs):
        hdrs["Connection"] = "close"
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --------------------------------------------------------------------------------------------------------------
# Prometheus text format
# --------------------------------------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


class Metrics:
    def __init__(self, text: str):
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = []
        self.types: dict[str, str] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3].strip()
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise AssertionError(f"line {lineno} is not Prometheus text format: {line!r}")
            labels = {}
            if m.group(3):
                rest = m.group(3)
                pos = 0
                for _ in range(1000):
                    if pos >= len(rest.strip()) or not rest[pos:].strip():
                        break
                    lm = _LABEL.match(rest, pos)
                    if not lm:
                        raise AssertionError(f"line {lineno}: bad labels {rest!r}")
                    labels[lm.group(1)] = lm.group(2)
                    pos = lm.end()
            v = m.group(4)
            value = float({"+Inf": "inf", "-Inf": "-inf", "NaN": "nan"}.get(v, v))
            self.samples.append((m.group(1), labels, value))

    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples}

    def find(self, name: str, **labels) -> list[tuple[dict[str, str], float]]:
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(val) for k, val in labels.items())]

    def value(self, name: str, **labels) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 when there are none)."""
        return sum(v for _, v in self.find(name, **labels))

    def has(self, name: str, **labels) -> bool:
        return bool(self.find(name, **labels))


def get_metrics(url: str) -> Metrics:
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, f"GET {url}: {r.status_code} {r.text[:200]}"
    return Metrics(r.text)


# --------------------------------------------------------------------------------------------------------------
# Inputs for the dtype models
# --------------------------------------------------------------------------------------------------------------


def dtype_inputs(name, dtype, n):
    rng = np.random.default_rng(sum(name.encode()))
    if dtype == np.bool_:
        xs = [np.array([[True, False, True], [False, False, True]])]
    elif dtype == np.int64:
        xs = [np.array([[2 ** 60 + 1, -5, 0], [7, -(2 ** 62), 123456789012345]], dtype=np.int64),
              np.array([[1, 5, -1], [2 ** 40, 3, -1]], dtype=np.int64)]
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        xs = [np.array([[info.min, info.max, 0], [1, -1 if info.min < 0 else 2, 3]], dtype=dtype)
              for _ in range(n)]
        if n == 2:
            xs[1] = np.array([[0, 0, 1], [2, 3, 4]], dtype=dtype)
    else:
        xs = [rng.standard_normal((2, 3)).astype(dtype) for _ in range(n)]
    names = ["x"] if n == 1 else [f"x{i}" for i in range(n)]
    return dict(zip(names, xs))


def dtype_expected(op, inputs):
    xs = list(inputs.values())
    return xs[0] + xs[1] if op == "Add" else xs[0]
