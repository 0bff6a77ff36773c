#!/usr/bin/python3
"""Export the torchvision model zoo used for keel's end-to-end tests.

Run with the Debian python that has python3-torch / python3-torchvision:

    /usr/bin/python3 models/generate_zoo.py [--out models/zoo] [--only a,b] [--force]

Every model is built with weights=None (random init, seeded per model; no
download), its BatchNorm statistics / norm affine params are randomised
(see export_utils.randomize_norm_params) and it is exported in eval mode with
BatchNormalization kept as nodes (opset 17, dynamic batch dim "batch").
A float64 torch reference is computed on a seeded standard-normal input of
shape [1,3,224,224] ([1,128,384] for transformer_encoder, a BERT-small-like
encoder built from torch.nn layers).  Output layout per model:

    <out>/<name>/model.onnx
    <out>/<name>/inputs/input.npy         float32 [1,3,224,224]
    <out>/<name>/outputs_f64/output.npy   float64 [1,1000]

models/zoo/ is git-ignored (the files are ~10-110 MB each).
"""

import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torchvision  # noqa: E402

from export_utils import export_model, format_ops, is_complete, name_seed  # noqa: E402

ZOO = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "densenet121",
    "efficientnet_b0",
    "convnext_tiny",
    "shufflenet_v2_x1_0",
    "regnet_y_400mf",
    "transformer_encoder",
]

INPUT_SHAPE = (1, 3, 224, 224)
# transformer_encoder: a BERT-small-like encoder (6 layers, 384 wide, 6 heads, 1536-wide
# feed-forward with exact GELU, post-LayerNorm) on 128 tokens of already-embedded input, written
# with torch.nn layers; its input is [1, 128, 384] floats.
ENCODER_SHAPE = (1, 128, 384)


def input_shape(name: str):
    return ENCODER_SHAPE if name == "transformer_encoder" else INPUT_SHAPE


def build(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if name == "transformer_encoder":
        layer = torch.nn.TransformerEncoderLayer(d_model=384, nhead=6, dim_feedforward=1536, dropout=0.0,
                                                 activation="gelu", batch_first=True)
        encoder = torch.nn.TransformerEncoder(layer, num_layers=6, enable_nested_tensor=False).eval()
        # TransformerEncoder deep-copies one layer: give every layer weights of its own (a real
        # model's are distinct; shared ones would be deduplicated by the exporter).
        with torch.no_grad():
            for p in encoder.parameters():
                if p.dim() > 1:
                    torch.nn.init.xavier_uniform_(p)
                else:
                    torch.nn.init.uniform_(p, -0.1, 0.1)
        return encoder
    ctor = getattr(torchvision.models, name)
    return ctor(weights=None).eval()


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "zoo"), help="output folder (default: models/zoo)")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(ZOO))
    ap.add_argument("--force", action="store_true", help="regenerate models whose folder is already complete")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    names = ZOO
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in ZOO]
        if unknown:
            ap.error("unknown model(s): " + ",".join(unknown))

    failures = []
    for name in names:
        out_dir = os.path.join(args.out, name)
        if is_complete(out_dir) and not args.force:
            print(f"{name:20s} skipped (complete; use --force to regenerate)", flush=True)
            continue
        t0 = time.time()
        try:
            seed = name_seed(name)
            model = build(name, seed)
            info = export_model(model, out_dir, input_shape(name), seed)
        except Exception as e:  # report and go on with the others
            traceback.print_exc()
            print(f"{name:20s} FAILED after {time.time() - t0:.1f}s: {e}", flush=True)
            failures.append(name)
            continue
        print(
            f"{name:20s} {time.time() - t0:6.1f}s  BN={info['bn']:3d}  nodes={sum(info['ops'].values()):4d}  "
            f"size={info['size'] / 1e6:6.1f}MB  out={info['out_shape']} |out|max={info['out_absmax']:.3g}  "
            f"torch f32 vs f64 rel={info['torch_f32_rel_err']:.2e}",
            flush=True,
        )
        print(f"{'':20s} ops: {format_ops(info['ops'])}", flush=True)
    if failures:
        print("FAILED: " + ",".join(failures), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
