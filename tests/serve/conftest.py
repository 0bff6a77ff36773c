"""Fixtures for the `keel serve` end-to-end tests.

`server` is one session-wide `keel serve --model-repository` over a generated repository:
  resnet       models/resnet_tiny with config.pbtxt: max_batch_size 8, dynamic_batching (2 ms), 1 instance
  resnet_nchw  models/resnet_tiny with config.pbtxt: parameters layout=nchw (max_batch_size: 0 in the file,
               which protobuf cannot tell from absent: the server may apply its default)
  resnet_bf16  models/resnet_tiny with config.pbtxt: parameters precision=bf16, layout=nhwc
  mobilenet    models/mobilenet_tiny, no config.pbtxt
  two_io       x0, x1 float32 [2,3] -> sum, prod (no config)
  dyn_id       Identity of float32 [n, h, w], every dim dynamic (no config)
`dtype_server` serves tiny Add/Identity models of other dtypes. `keel_server` starts servers for one test.
Every server is stopped with SIGTERM at teardown and must exit 0 within 30 s; a failing test shows what the
servers logged while it ran.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_util as su  # noqa: E402

RESNET = su.RESNET
MOBILENET = su.MOBILENET
DTYPE_MODELS = su.DTYPE_MODELS


def pytest_configure(config):
    ok, why = su.keel_has_serve()
    if not ok:
        raise pytest.UsageError(f"cannot run the keel serve tests: {why}")


# --- show server logs for failing tests -----------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    item._keel_log_marks = {id(s): s.log_size() for s in su.LIVE_SERVERS}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        marks = getattr(item, "_keel_log_marks", {})
        seen = set()
        for s in list(su.LIVE_SERVERS) + list(getattr(item, "_keel_dead_servers", [])):
            if id(s) in seen:
                continue
            seen.add(id(s))
            since = marks.get(id(s), 0)
            rep.sections.append((f"keel serve log {s.log_path.name} (port {s.http_port})",
                                 s.log_tail(150, since=since)))


# --- repositories ----------------------------------------------------------------------------------------------

def build_main_repository(repo: Path, tmp: Path) -> Path:
    su.add_model(repo, "resnet", RESNET / "model.onnx", config=su.RESNET_BATCHING_CONFIG.format(name="resnet"))
    su.add_model(repo, "resnet_nchw", RESNET / "model.onnx",
                 config=su.RESNET_NCHW_CONFIG.format(name="resnet_nchw"))
    su.add_model(repo, "resnet_bf16", RESNET / "model.onnx",
                 config=su.RESNET_BF16_CONFIG.format(name="resnet_bf16"))
    su.add_model(repo, "mobilenet", MOBILENET / "model.onnx")
    su.add_model(repo, "two_io", su.make_two_io_model(tmp / "two_io.onnx"))
    su.add_model(repo, "dyn_id", su.make_elementwise_model(tmp / "dyn_id.onnx", "Identity", np.float32, 1,
                                                           ["n", "h", "w"]))
    return repo


@pytest.fixture(scope="session")
def main_repository(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("main_repo")
    return build_main_repository(base / "repo", base)


def _session_server(request, tmp_path_factory, name, model_args, extra=None):
    log = tmp_path_factory.mktemp(name) / "server.log"
    s = su.KeelServer(model_args, log, extra_args=extra)
    s.start()
    yield s
    rc = s.stop()
    if rc != 0:
        print(f"\n--- {name} log ---\n{s.log_tail(200)}")
    assert rc == 0, f"{name}: keel serve exited with {rc} after SIGTERM (None: not within 30 s)"


@pytest.fixture(scope="session")
def server(request, tmp_path_factory, main_repository):
    yield from _session_server(request, tmp_path_factory, "main_server",
                               ["--model-repository", main_repository])


@pytest.fixture(scope="session")
def dtype_repository(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("dtype_repo")
    repo = base / "repo"
    for name, op, dtype, n in DTYPE_MODELS:
        su.add_model(repo, name, su.make_elementwise_model(base / f"{name}.onnx", op, dtype, n, [2, 3]))
    return repo


@pytest.fixture(scope="session")
def dtype_server(request, tmp_path_factory, dtype_repository):
    yield from _session_server(request, tmp_path_factory, "dtype_server",
                               ["--model-repository", dtype_repository])


@pytest.fixture
def keel_server(request, tmp_path):
    """A factory: keel_server(model_args, extra_args=None, ready_path=..., grpc=True, metrics=True) starts a
    server for this test. At teardown each still running one gets SIGTERM and must exit 0 within 30 s."""
    started: list[su.KeelServer] = []

    def start(model_args, extra_args=None, ready_path="/v2/health/ready", grpc=True, metrics=True):
        log = tmp_path / f"server{len(started)}.log"
        s = su.KeelServer(model_args, log, extra_args=extra_args, ready_path=ready_path, grpc=grpc,
                          metrics=metrics)
        started.append(s)
        request.node._keel_dead_servers = started
        s.start()
        return s

    yield start
    bad = []
    for s in started:
        if s.proc is None:
            continue
        already = s.returncode is not None or s.proc.poll() is not None
        rc = s.stop()
        if not already and rc != 0:
            bad.append((s, rc))
    for s, rc in bad:
        print(f"\n--- {s.log_path.name} ---\n{s.log_tail(150)}")
    assert not bad, "keel serve did not exit 0 within 30 s of SIGTERM: " + \
        ", ".join(f"{s.log_path.name}: {rc}" for s, rc in bad)


# --- references from `keel run` ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def resnet_input() -> np.ndarray:
    return np.load(RESNET / "inputs" / "input.npy")


@pytest.fixture(scope="session")
def resnet_reference(tmp_path_factory, resnet_input) -> np.ndarray:
    """`keel run models/resnet_tiny -i input=inputs/input.npy -o DIR`'s output.npy."""
    out = su.keel_run(RESNET, {"input": resnet_input}, tmp_path_factory.mktemp("keel_run_resnet"))
    return out["output"]


@pytest.fixture(scope="session")
def keel_run_ref(tmp_path_factory):
    """keel_run_ref(model_path, {name: array}, extra_args) -> {output: array}, run by `keel run`."""
    counter = [0]

    def run(model, inputs, extra=None):
        counter[0] += 1
        return su.keel_run(Path(model), inputs, tmp_path_factory.mktemp(f"keel_run_{counter[0]}"), extra)

    return run
