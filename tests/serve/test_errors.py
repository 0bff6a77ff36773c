"""A corpus of malformed requests over raw sockets: each must get the right 4xx with {"error": "..."} (or, for
bytes that are not HTTP at all, a closed connection), and the server must stay ready, correct and flat in
memory afterwards. Also: slow-loris connections, abrupt disconnects, and --http-max-input-size (413)."""

from __future__ import annotations

import json
import random
import socket
import struct
import time

import numpy as np
import pytest
import requests

import serve_util as su
from serve_util import HOST, http_request_bytes as req_bytes

TWO_IO = "/v2/models/two_io/infer"
RESNET = "/v2/models/resnet/infer"
DYN = "/v2/models/dyn_id/infer"
JSON_CT = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def err_server(tmp_path_factory, main_repository):
    log = tmp_path_factory.mktemp("err_server") / "server.log"
    s = su.KeelServer(["--model-repository", main_repository], log)
    s.start()
    yield s
    rc = s.stop()
    if rc != 0:
        print(s.log_tail(200))
    assert rc == 0, f"keel serve exited with {rc} after SIGTERM"


# --- the corpus ---------------------------------------------------------------------------------------------------

def _inp(name="x0", shape=(2, 3), datatype="FP32", data=None, **extra):
    d = {"name": name, "shape": list(shape), "datatype": datatype,
         "data": list(range(6)) if data is None else data}
    d.update(extra)
    return d


def _good_two_io(**top):
    body = {"inputs": [_inp("x0"), _inp("x1")]}
    body.update(top)
    return body


def _post_json(path, obj_or_bytes, headers=None):
    body = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
    return req_bytes("POST", path, body, {**JSON_CT, **(headers or {})})


def _resnet_binary(header_extra=None, blob=None, hlen_value=None, size=None, drop_hlen=False, input_extra=None):
    x = np.zeros((1, 3, 64, 64), dtype=np.float32).tobytes()
    blob = x if blob is None else blob
    inp = {"name": "input", "shape": [1, 3, 64, 64], "datatype": "FP32",
           "parameters": {"binary_data_size": len(x) if size is None else size}}
    inp.update(input_extra or {})
    header = {"inputs": [inp]}
    header.update(header_extra or {})
    head = json.dumps(header).encode()
    hdrs = {"Content-Type": "application/octet-stream"}
    if not drop_hlen:
        hdrs["Inference-Header-Content-Length"] = str(len(head)) if hlen_value is None else str(hlen_value)
    return req_bytes("POST", RESNET, head + blob, hdrs)


def _dyn_binary_header_only(shape):
    """A binary request for dyn_id whose shape's element count overflows, with binary_data_size 0."""
    head = json.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": "FP32",
                                   "parameters": {"binary_data_size": 0}}]}).encode()
    return req_bytes("POST", DYN, head, {"Content-Type": "application/octet-stream",
                                        "Inference-Header-Content-Length": str(len(head))})


API400 = ("api", {400})
API404 = ("api", {404})


def _any(*codes):
    return ("http", set(codes))


def _or_closed(*codes):
    return ("closed_ok", set(codes))


def _deep_json(depth):
    return b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"


def _garbage(n, seed):
    rnd = random.Random(seed)
    return bytes(rnd.randrange(256) for _ in range(n))


# name -> (request bytes or list of parts, expectation, n_responses)
CORPUS = {
    # JSON syntax
    "json_truncated": (_post_json(TWO_IO, json.dumps(_good_two_io()).encode()[:40]), API400),
    "json_garbage_text": (_post_json(TWO_IO, b"this is not json"), API400),
    "json_nan_literal": (_post_json(TWO_IO, json.dumps(_good_two_io()).replace("[0, 1", "[NaN, 1", 1).encode()),
                         API400),
    "json_trailing_garbage": (_post_json(TWO_IO, json.dumps(_good_two_io()).encode() + b"}}garbage"), API400),
    "json_deeply_nested_100k": (_post_json(TWO_IO, _deep_json(100000)), API400),
    "json_invalid_utf8": (_post_json(TWO_IO, json.dumps(_good_two_io()).encode().replace(b'"x0"', b'"\xff\xfe"')),
                          API400),
    # JSON types
    "json_top_level_array": (_post_json(TWO_IO, b"[]"), API400),
    "json_top_level_string": (_post_json(TWO_IO, b'"inputs"'), API400),
    "json_empty_object": (_post_json(TWO_IO, {}), API400),
    "inputs_not_array": (_post_json(TWO_IO, {"inputs": 5}), API400),
    "inputs_empty": (_post_json(TWO_IO, {"inputs": []}), API400),
    "input_not_object": (_post_json(TWO_IO, {"inputs": [1, 2]}), API400),
    "input_missing_name": (_post_json(TWO_IO, {"inputs": [{k: v for k, v in _inp().items() if k != "name"},
                                                           _inp("x1")]}), API400),
    "input_name_not_string": (_post_json(TWO_IO, {"inputs": [_inp(5), _inp("x1")]}), API400),
    "input_missing_datatype": (_post_json(TWO_IO, {"inputs": [{k: v for k, v in _inp().items() if k != "datatype"},
                                                               _inp("x1")]}), API400),
    "input_missing_shape": (_post_json(TWO_IO, {"inputs": [{k: v for k, v in _inp().items() if k != "shape"},
                                                            _inp("x1")]}), API400),
    "input_missing_data": (_post_json(TWO_IO, {"inputs": [{k: v for k, v in _inp().items() if k != "data"},
                                                           _inp("x1")]}), API400),
    "shape_not_array": (_post_json(TWO_IO, {"inputs": [_inp(shape=()) | {"shape": "2,3"}, _inp("x1")]}), API400),
    "shape_float_dims": (_post_json(TWO_IO, {"inputs": [_inp() | {"shape": [2.5, 3]}, _inp("x1")]}), API400),
    "shape_string_dims": (_post_json(TWO_IO, {"inputs": [_inp() | {"shape": ["2", "3"]}, _inp("x1")]}), API400),
    "shape_negative_dims_product_6": (_post_json(TWO_IO, {"inputs": [_inp(shape=(-2, -3)), _inp("x1")]}), API400),
    "shape_minus_one": (_post_json(DYN, {"inputs": [{"name": "x", "shape": [1, -1, 6], "datatype": "FP32",
                                                      "data": list(range(6))}]}), API400),
    # dyn_id's dims are all dynamic: only the element count can stop these (the batch dim is 1)
    "shape_product_overflows_int64": (_post_json(DYN, {"inputs": [{"name": "x", "shape": [1, 3037000500, 3037000500],
                                                                    "datatype": "FP32", "data": [1.0]}]}), API400),
    "shape_product_wraps_uint64_to_0": (_post_json(DYN, {"inputs": [{"name": "x",
                                                                      "shape": [1, 4294967296, 4294967296],
                                                                      "datatype": "FP32", "data": []}]}), API400),
    "shape_bytes_wrap_uint64_to_0": (_post_json(DYN, {"inputs": [{"name": "x", "shape": [1, 4611686018427387904, 4],
                                                                   "datatype": "FP32", "data": []}]}), API400),
    "shape_dim_beyond_int64": (_post_json(DYN, {"inputs": [{"name": "x", "shape": [1, 99999999999999999999999, 1],
                                                             "datatype": "FP32", "data": [1.0]}]}), API400),
    "shape_wrong_rank": (_post_json(TWO_IO, {"inputs": [_inp(shape=(6,)), _inp("x1")]}), API400),
    "shape_wrong_dims": (_post_json(TWO_IO, {"inputs": [_inp(shape=(3, 2)), _inp("x1")]}), API400),
    # data
    "data_too_short": (_post_json(TWO_IO, {"inputs": [_inp(data=[1, 2, 3, 4, 5]), _inp("x1")]}), API400),
    "data_too_long": (_post_json(TWO_IO, {"inputs": [_inp(data=list(range(7))), _inp("x1")]}), API400),
    "data_not_array": (_post_json(TWO_IO, {"inputs": [_inp(data={"a": 1}), _inp("x1")]}), API400),
    "data_strings_for_fp32": (_post_json(TWO_IO, {"inputs": [_inp(data=["1"] * 6), _inp("x1")]}), API400),
    "data_nulls": (_post_json(TWO_IO, {"inputs": [_inp(data=[None] * 6), _inp("x1")]}), API400),
    "data_objects": (_post_json(TWO_IO, {"inputs": [_inp(data=[{}] * 6), _inp("x1")]}), API400),
    "datatype_wrong": (_post_json(TWO_IO, {"inputs": [_inp(datatype="INT32"), _inp("x1", datatype="INT32")]}),
                       API400),
    "datatype_unknown": (_post_json(TWO_IO, {"inputs": [_inp(datatype="FP33"), _inp("x1")]}), API400),
    # names
    "input_unknown": (_post_json(TWO_IO, {"inputs": [_inp("x0"), _inp("x1"), _inp("x9")]}), API400),
    "input_missing": (_post_json(TWO_IO, {"inputs": [_inp("x0")]}), API400),
    "input_duplicate": (_post_json(TWO_IO, {"inputs": [_inp("x0"), _inp("x0"), _inp("x1")]}), API400),
    "output_unknown": (_post_json(TWO_IO, _good_two_io(outputs=[{"name": "nope"}])), API400),
    "outputs_not_array": (_post_json(TWO_IO, _good_two_io(outputs="sum")), API400),
    "id_not_string": (_post_json(TWO_IO, _good_two_io(id=5)), API400),
    "model_unknown": (_post_json("/v2/models/no_such_model/infer", _good_two_io()), API404),
    "version_unknown": (_post_json("/v2/models/two_io/versions/99/infer", _good_two_io()), API404),
    "version_not_a_number": (_post_json("/v2/models/two_io/versions/abc/infer", _good_two_io()), _any(400, 404)),
    "model_name_traversal": (_post_json("/v2/models/..%2F..%2Fetc%2Fpasswd/infer", _good_two_io()), _any(400, 404)),
    # bodies
    "body_empty": (req_bytes("POST", TWO_IO, b"", JSON_CT), API400),
    "body_absent_no_content_length": (req_bytes("POST", TWO_IO, b"", JSON_CT, content_length=False),
                                      _any(400, 411)),
    # binary extension
    "binary_size_larger_than_body": (_resnet_binary(blob=b"\0" * 1000), API400),
    "binary_size_smaller_than_tensor": (_resnet_binary(blob=b"\0" * 100, size=100), API400),
    "binary_size_negative": (_resnet_binary(size=-1), API400),
    "binary_size_not_integer": (_resnet_binary(size="big"), API400),
    "binary_size_and_json_data": (_resnet_binary(input_extra={"data": [0.0] * 12288}), API400),
    "binary_without_header_length": (_resnet_binary(drop_hlen=True), API400),
    "header_length_larger_than_body": (_resnet_binary(hlen_value=10 ** 6), API400),
    "header_length_cuts_json": (_resnet_binary(hlen_value=30), API400),
    "header_length_not_number": (_resnet_binary(hlen_value="abc"), API400),
    "header_length_negative": (_resnet_binary(hlen_value=-5), API400),
    "binary_shape_wraps_to_0": (_dyn_binary_header_only([1, 4294967296, 4294967296]), API400),
    "binary_shape_bytes_wrap_to_0": (_dyn_binary_header_only([1, 1073741824, 4294967296]), API400),
    "binary_shape_overflows_int64": (_dyn_binary_header_only([1, 3037000500, 3037000500]), API400),
    # HTTP framing
    "header_line_100kb": (req_bytes("GET", "/v2/health/ready", headers={"X-Big": "a" * 100_000}),
                          _or_closed(400, 413, 431)),
    "headers_10000": (req_bytes("GET", "/v2/health/ready", headers={f"X-H{i}": "v" for i in range(10000)}),
                      _or_closed(400, 413, 431)),
    "url_10kb": (req_bytes("GET", "/v2/models/" + "m" * 10_000 + "/ready"), _or_closed(400, 404, 414, 431)),
    "garbage_bytes": (_garbage(4096, 1), _or_closed(400)),
    "garbage_request_line": (b"HELLO THERE\r\n\r\n", _or_closed(400, 405, 501)),
    "http_version_9_9": (b"GET /v2/health/ready HTTP/9.9\r\nHost: x\r\n\r\n", _or_closed(400, 505)),
    "content_length_conflicting": (b"POST " + TWO_IO.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                   b"Content-Length: 10\r\nConnection: close\r\n\r\n0123456789",
                                   _or_closed(400)),
    "content_length_not_number": (b"POST " + TWO_IO.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n"
                                  b"Connection: close\r\n\r\n", _or_closed(400)),
    "chunked_bad_size": (b"POST " + TWO_IO.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", _or_closed(400)),
    "get_on_infer": (req_bytes("GET", TWO_IO), _any(400, 404, 405)),
    "post_on_health": (req_bytes("POST", "/v2/health/ready", b"{}", JSON_CT), _any(400, 404, 405)),
    "unknown_path": (req_bytes("GET", "/v2/nothing/here"), _any(400, 404)),
    "http10_bad_infer": (req_bytes("POST", TWO_IO, b"{", JSON_CT, version="HTTP/1.0", close=False), API400),
}
CORPUS_IDS = sorted(CORPUS)


def check_case(port: int, name: str) -> None:
    data, (kind, codes) = CORPUS[name]
    responses, closed = su.raw_exchange(port, data, timeout=10)
    if not responses:
        assert kind == "closed_ok" and closed, \
            f"{name}: no response ({'connection closed' if closed else 'timed out'}); want {sorted(codes)}"
        return
    r = responses[0]
    assert r.status in codes, f"{name}: got {r.status} {r.body[:300]!r}, want {sorted(codes)}"
    if kind == "api":
        try:
            body = r.json()
        except ValueError:
            raise AssertionError(f"{name}: {r.status} body is not JSON: {r.body[:200]!r}")
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], \
            f"{name}: error body is not {{\"error\": \"...\"}}: {body!r}"


def test_corpus_has_at_least_30_cases():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("name", CORPUS_IDS)
def test_malformed_request(err_server, name):
    check_case(err_server.http_port, name)
    assert err_server.alive(), f"keel serve died on {name}"


# --- framing that is valid HTTP -------------------------------------------------------------------------------------

def _two_io_expect(resp):
    out = {o["name"]: o for o in resp.json()["outputs"]}
    x = np.arange(6, dtype=np.float32)
    assert out["sum"]["data"] == (x + x).tolist()
    assert out["prod"]["data"] == (x * x).tolist()


def test_http10_get_ready_then_close(err_server):
    responses, closed = su.raw_exchange(err_server.http_port,
                                        b"GET /v2/health/ready HTTP/1.0\r\nHost: x\r\n\r\n", timeout=10)
    assert responses and responses[0].status == 200, responses
    assert responses[0].version in ("HTTP/1.0", "HTTP/1.1")
    assert closed, "an HTTP/1.0 request without keep-alive must be answered and the connection closed"


def test_http10_infer_works(err_server):
    body = json.dumps(_good_two_io()).encode()
    responses, _ = su.raw_exchange(err_server.http_port,
                                   req_bytes("POST", TWO_IO, body, JSON_CT, version="HTTP/1.0", close=False))
    assert responses and responses[0].status == 200, responses
    _two_io_expect(responses[0])


def test_pipelined_requests_answered_in_order(err_server):
    good = json.dumps(_good_two_io()).encode()
    data = (req_bytes("GET", "/v2/health/live", close=False)
            + req_bytes("POST", TWO_IO, good, JSON_CT, close=False)
            + req_bytes("GET", "/v2/models/two_io/ready", close=False)
            + req_bytes("GET", "/v2/health/ready", close=True))
    responses, _ = su.raw_exchange(err_server.http_port, data, n_responses=4, timeout=10)
    assert [r.status for r in responses] == [200, 200, 200, 200], responses
    assert responses[0].json() == {"live": True}
    _two_io_expect(responses[1])
    assert responses[2].json()["name"] == "two_io"
    assert responses[3].json() == {"ready": True}


def test_pipelined_bad_request_then_good(err_server):
    """A well-framed 400 must not poison the connection: the next pipelined request is still answered."""
    data = (req_bytes("POST", TWO_IO, b"{not json", JSON_CT, close=False)
            + req_bytes("GET", "/v2/health/ready", close=True))
    responses, _ = su.raw_exchange(err_server.http_port, data, n_responses=2, timeout=10)
    assert [r.status for r in responses] == [400, 200], responses


def test_chunked_transfer_encoding_body(err_server):
    body = json.dumps(_good_two_io()).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 37]), body[i:i + 37]) for i in range(0, len(body), 37))
    data = (f"POST {TWO_IO} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + chunks + b"0\r\n\r\n"
    responses, _ = su.raw_exchange(err_server.http_port, data, timeout=10)
    assert responses, "no answer to a chunked request"
    assert responses[0].status in (200, 411), responses[0]
    if responses[0].status == 200:
        _two_io_expect(responses[0])


def test_chunked_body_cut_off_then_disconnect(err_server):
    data = (f"POST {TWO_IO} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + b"100\r\nabc"
    _abrupt(err_server.http_port, data)
    assert _ready(err_server)


# --- disconnects and slow clients -------------------------------------------------------------------------------------

def _abrupt(port: int, data: bytes, rst: bool = True) -> None:
    s = socket.create_connection((HOST, port), timeout=5)
    try:
        s.sendall(data)
        time.sleep(0.05)
        if rst:  # close with RST instead of FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


def _ready(server) -> bool:
    return requests.get(server.url + "/v2/health/ready", timeout=5).status_code == 200


def test_disconnect_mid_body(err_server):
    head = (f"POST {RESNET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            f"Inference-Header-Content-Length: 100\r\nContent-Length: 200000\r\n\r\n").encode()
    for rst in (True, False):
        _abrupt(err_server.http_port, head + b"\0" * 5000, rst=rst)
    assert _ready(err_server)


def test_disconnect_mid_headers(err_server):
    for rst in (True, False):
        _abrupt(err_server.http_port, b"POST /v2/models/two_io/infer HTTP/1.1\r\nHost: x\r\nContent-Len", rst=rst)
    assert _ready(err_server)


def test_disconnect_before_reading_response(err_server):
    body = json.dumps(_good_two_io()).encode()
    for _ in range(5):
        _abrupt(err_server.http_port, req_bytes("POST", TWO_IO, body, JSON_CT, close=False))
    assert _ready(err_server)


def test_slowloris_does_not_block_other_clients(err_server, resnet_input, resnet_reference):
    """16 connections stuck in their headers (more than a fixed pool of 8 threads) and 4 stuck in their body,
    held for 3 s: other clients are still served promptly."""
    stuck = []
    try:
        for i in range(16):
            s = socket.create_connection((HOST, err_server.http_port), timeout=5)
            s.sendall(b"POST /v2/models/resnet/infer HTTP/1.1\r\nHost: x\r\nContent-Le")
            stuck.append(s)
        for i in range(4):
            s = socket.create_connection((HOST, err_server.http_port), timeout=5)
            s.sendall(b"POST /v2/models/two_io/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inp")
            stuck.append(s)
        t_end = time.monotonic() + 3.0
        n = 0
        worst = 0.0
        with requests.Session() as sess:
            for _ in range(200):
                if time.monotonic() > t_end:
                    break
                t0 = time.monotonic()
                r, arrays = su.infer_binary(sess, err_server.url, "resnet", {"input": resnet_input}, timeout=5)
                worst = max(worst, time.monotonic() - t0)
                assert r.status_code == 200, r.text
                assert su.same_bits(arrays["output"], resnet_reference)
                # a fresh connection each time too
                assert requests.get(err_server.url + "/v2/health/ready", timeout=5).status_code == 200
                n += 1
                time.sleep(0.05)
        assert n >= 5, f"only {n} requests served in 3 s while slow clients were connected"
        assert worst < 2.0, f"a request took {worst:.2f} s while slow clients were connected"
    finally:
        for s in stuck:
            s.close()
    assert _ready(err_server)


# --- after the corpus -------------------------------------------------------------------------------------------------

def _normal_infer_ok(server, resnet_input, resnet_reference):
    r, arrays = su.infer_binary(requests, server.url, "resnet", {"input": resnet_input})
    assert r.status_code == 200, r.text
    assert su.same_bits(arrays["output"], resnet_reference)


def test_corpus_twice_keeps_server_ready_correct_and_flat(err_server, resnet_input, resnet_reference):
    _normal_infer_ok(err_server, resnet_input, resnet_reference)
    for name in CORPUS_IDS:  # warm-up round: allocator pools, thread stacks
        su.raw_exchange(err_server.http_port, CORPUS[name][0], timeout=10)
    before = err_server.rss_kb()
    failures = []
    for round_ in range(2):
        for name in CORPUS_IDS:
            try:
                check_case(err_server.http_port, name)
            except AssertionError as e:
                failures.append(f"round {round_}: {e}")
        _abrupt(err_server.http_port, b"POST /v2/models/two_io/infer HTTP/1.1\r\nContent-Length: 99999\r\n\r\n{")
    after = err_server.rss_kb()
    assert err_server.alive()
    assert _ready(err_server)
    _normal_infer_ok(err_server, resnet_input, resnet_reference)
    assert after - before < 20 * 1024, f"RSS grew {((after - before) / 1024):.1f} MB over the corpus run twice " \
                                       f"({before} kB -> {after} kB)"
    assert not failures, "\n".join(failures[:20])


# --- --http-max-input-size ----------------------------------------------------------------------------------------------

LIMIT = 100_000


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory, main_repository):
    log = tmp_path_factory.mktemp("limit_server") / "server.log"
    s = su.KeelServer(["--model-repository", main_repository], log,
                      extra_args=["--http-max-input-size", str(LIMIT)], grpc=False, metrics=False)
    s.start()
    yield s
    rc = s.stop()
    assert rc == 0, f"keel serve exited with {rc} after SIGTERM"


def test_body_over_limit_is_413(small_limit_server, resnet_input):
    body = json.dumps(su.json_request({"input": resnet_input})).encode()  # ~250 KB of JSON
    assert len(body) > LIMIT
    full = req_bytes("POST", RESNET, body, JSON_CT)
    head, payload = full[:full.index(b"\r\n\r\n") + 4], full[full.index(b"\r\n\r\n") + 4:]
    resp, _ = su.headers_then_body(small_limit_server.http_port, head, payload)
    assert resp is not None, "no answer to an over-limit body"
    assert resp.status == 413, resp
    err = resp.json()
    assert isinstance(err.get("error"), str) and err["error"], err


def test_body_under_limit_is_served(small_limit_server, resnet_input, resnet_reference):
    r, arrays = su.infer_binary(requests, small_limit_server.url, "resnet", {"input": resnet_input})  # ~49 KB
    assert r.status_code == 200, r.text
    assert su.same_bits(arrays["output"], resnet_reference)


def test_huge_content_length_is_413_without_the_body(small_limit_server):
    """Content-Length 1 GB: answered 413 from the headers alone, without waiting for (or buffering) the body."""
    head = (f"POST {RESNET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: 1000000000\r\n\r\n").encode()
    t0 = time.monotonic()
    responses, _ = su.raw_exchange(small_limit_server.http_port, head, timeout=5)
    assert responses, "no answer within 5 s to Content-Length: 1000000000"
    assert responses[0].status == 413, responses[0]
    assert time.monotonic() - t0 < 5


def test_chunked_body_over_limit(small_limit_server):
    chunk = b"x" * 8192
    data = (f"POST {RESNET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    data += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(30)) + b"0\r\n\r\n"
    responses, closed = su.raw_exchange(small_limit_server.http_port, data, timeout=10)
    assert (responses and responses[0].status in (411, 413)) or (not responses and closed), responses


def test_after_limit_cases_server_is_fine(small_limit_server, resnet_input, resnet_reference):
    assert _ready(small_limit_server)
    _normal_infer_ok(small_limit_server, resnet_input, resnet_reference)
