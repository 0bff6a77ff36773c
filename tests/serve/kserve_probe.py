"""Runs the kserve SDK's v2 clients against a server and writes what they saw to OUT_DIR/results.json (and
outputs as OUT_DIR/<scenario>.npy). A separate process: the kserve SDK and tritonclient.grpc register the same
protobuf symbols (inference.ServerLiveRequest, ...) and cannot be imported into one Python process.

Usage: kserve_probe.py HTTP_URL GRPC_ADDR RESNET_INPUT_NPY OUT_DIR
"""

import asyncio
import json
import sys
import traceback
from pathlib import Path

import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


def rest_client():
    return InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=30))


async def rest_health(url, grpc_addr, x, out):
    async with rest_client() as c:
        return {"live": await c.is_server_live(url), "ready": await c.is_server_ready(url),
                "model_ready": await c.is_model_ready(url, "resnet"),
                "missing_ready": await c.is_model_ready(url, "no_such_model")}


async def _rest_infer(url, x, out, name, binary):
    inp = InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    req = InferRequest(model_name="resnet", infer_inputs=[inp], request_id=f"ks-{name}")
    async with rest_client() as c:
        res = await c.infer(url, req, model_name="resnet")
    o = res.outputs[0]
    np.save(out / f"{name}.npy", np.asarray(o.as_numpy()))
    return {"id": res.id, "model_name": res.model_name, "name": o.name, "datatype": o.datatype,
            "shape": [int(d) for d in o.shape]}


async def rest_infer_binary(url, grpc_addr, x, out):
    return await _rest_infer(url, x, out, "rest_infer_binary", True)


async def rest_infer_json(url, grpc_addr, x, out):
    return await _rest_infer(url, x, out, "rest_infer_json", False)


async def rest_infer_dict(url, grpc_addr, x, out):
    a = np.ones((2, 3), dtype=np.float32)
    body = {"inputs": [{"name": "x0", "shape": [2, 3], "datatype": "FP32", "data": a.reshape(-1).tolist()},
                       {"name": "x1", "shape": [2, 3], "datatype": "FP32", "data": (2 * a).reshape(-1).tolist()}],
            "outputs": [{"name": "sum"}]}
    async with rest_client() as c:
        res = await c.infer(url, body, model_name="two_io")
    return {"names": [o.name for o in res.outputs],
            "values": np.asarray(res.outputs[0].as_numpy(), dtype=np.float64).reshape(-1).tolist()}


async def rest_error(url, grpc_addr, x, out):
    inp = InferInput("nope", [1], "FP32")
    inp.set_data_from_numpy(np.zeros(1, dtype=np.float32), binary_data=False)
    async with rest_client() as c:
        try:
            await c.infer(url, InferRequest(model_name="resnet", infer_inputs=[inp]), model_name="resnet")
        except httpx.HTTPStatusError as e:
            return {"raised": True, "status": e.response.status_code, "body": e.response.text[:500],
                    "message": str(e)[:500]}
    return {"raised": False}


async def grpc_health_infer(url, grpc_addr, x, out):
    c = InferenceGRPCClient(grpc_addr, timeout=30)
    try:
        r = {"live": await c.is_server_live(), "ready": await c.is_server_ready(),
             "model_ready": await c.is_model_ready("resnet")}
        inp = InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
        res = await c.infer(InferRequest(model_name="resnet", infer_inputs=[inp], request_id="ks-g-1"))
        np.save(out / "grpc_health_infer.npy", np.asarray(res.outputs[0].as_numpy()))
        r.update({"id": res.id, "model_name": res.model_name})
        return r
    finally:
        await c.close()


async def grpc_requested_output(url, grpc_addr, x, out):
    x0 = np.arange(6, dtype=np.float32).reshape(2, 3)
    x1 = np.full((2, 3), 3.0, dtype=np.float32)
    c = InferenceGRPCClient(grpc_addr, timeout=30)
    try:
        ins = []
        for n, a in (("x0", x0), ("x1", x1)):
            i = InferInput(n, [2, 3], "FP32")
            i.set_data_from_numpy(a, binary_data=True)
            ins.append(i)
        res = await c.infer(InferRequest(model_name="two_io", infer_inputs=ins,
                                         request_outputs=[RequestedOutput("prod")]))
        np.save(out / "grpc_requested_output.npy", np.asarray(res.outputs[0].as_numpy()))
        return {"names": [o.name for o in res.outputs]}
    finally:
        await c.close()


SCENARIOS = [rest_health, rest_infer_binary, rest_infer_json, rest_infer_dict, rest_error, grpc_health_infer,
             grpc_requested_output]


def main():
    url, grpc_addr, input_npy, out_dir = sys.argv[1:5]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = np.load(input_npy)
    results = {}
    for fn in SCENARIOS:
        try:
            results[fn.__name__] = {"ok": True, **asyncio.run(asyncio.wait_for(fn(url, grpc_addr, x, out), 60))}
        except BaseException as e:  # noqa: BLE001 - reported to the test
            results[fn.__name__] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                    "traceback": traceback.format_exc()[-3000:]}
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
