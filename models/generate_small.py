#!/usr/bin/python3
"""Build and export the small, git-committed test models.

    /usr/bin/python3 models/generate_small.py [--out models] [--only a,b]

Each model is a scaled-down version of a real CNN architecture (random init
with a fixed seed, BatchNorm statistics randomised), exported exactly like
the zoo (opset 17, BatchNormalization kept as nodes, dynamic batch dim) into

    <out>/<name>/model.onnx
    <out>/<name>/inputs/input.npy         float32
    <out>/<name>/outputs_f64/output.npy   float64 torch reference

Unlike generate_zoo.py this always regenerates (the output is deterministic
for a given torch version, but re-running may still change bytes if torch's
exporter changes; only commit regenerated files when intended).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from export_utils import export_model, format_ops, name_seed  # noqa: E402

NUM_CLASSES = 10


# --------------------------------------------------------------------------
# resnet_tiny: ResNet-18 style (7x7/2 stem + BN + ReLU, maxpool, BasicBlocks)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNetTiny(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=(2, 1, 1)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 7, 2, 3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        layers = []
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, NUM_CLASSES)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --------------------------------------------------------------------------
# mobilenet_tiny: MobileNetV2 inverted residuals + one MobileNetV3 SE block


class SqueezeExcite(nn.Module):
    """MobileNetV3 SE: GAP -> 1x1 -> ReLU -> 1x1 -> Hardsigmoid -> scale."""

    def __init__(self, c, squeeze):
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
        return s * x


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, se=False, act=nn.ReLU6):
        super().__init__()
        hidden = cin * expand
        layers = [
            nn.Conv2d(cin, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            act(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            act(),
        ]
        if se:
            layers.append(SqueezeExcite(hidden, max(8, hidden // 4)))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class MobileNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False),  # 64 -> 32
            nn.BatchNorm2d(16),
            nn.ReLU6(),
            InvertedResidual(16, 16, 1, 1),  # depthwise-only style (t=1), residual
            InvertedResidual(16, 24, 2, 4),  # 32 -> 16
            InvertedResidual(24, 24, 1, 4),  # residual
            InvertedResidual(24, 32, 2, 4),  # 16 -> 8
            InvertedResidual(32, 32, 1, 4, se=True, act=nn.Hardswish),  # V3 block: SE + hardswish, residual
            nn.Conv2d(32, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.Hardswish(),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, NUM_CLASSES))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


# --------------------------------------------------------------------------
# densenet_tiny: pre-activation dense layers (BN-ReLU-Conv) with Concat


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size=2):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)  # BN below follows Concat: not foldable into a conv
        x = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(x)))


class DenseBlock(nn.Module):
    def __init__(self, n, cin, growth):
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + i * growth, growth) for i in range(n))

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(
            nn.BatchNorm2d(cin),
            nn.ReLU(),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.AvgPool2d(2, 2),
        )


class DenseNetTiny(nn.Module):
    def __init__(self, growth=8):
        super().__init__()
        c = 16
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.block1 = DenseBlock(4, c, growth)
        c += 4 * growth  # 48
        self.trans1 = Transition(c, c // 2)  # 32 -> 16 spatial
        c //= 2  # 24
        self.block2 = DenseBlock(4, c, growth)
        c += 4 * growth  # 56
        self.trans2 = Transition(c, c // 2)  # 16 -> 8
        c //= 2  # 28
        self.block3 = DenseBlock(3, c, growth)
        c += 3 * growth  # 52
        self.norm_final = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, NUM_CLASSES)

    def forward(self, x):
        x = self.trans1(self.block1(self.stem(x)))
        x = self.trans2(self.block2(x))
        x = F.relu(self.norm_final(self.block3(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


# --------------------------------------------------------------------------
# convnext_tiny_block: ConvNeXt blocks (dw7x7, channels-last LayerNorm, MLP)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW tensor via permute (as torchvision)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    def __init__(self, dim, layer_scale=1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.pw2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        y = y.permute(0, 3, 1, 2)
        return x + self.layer_scale * y


class ConvNeXtTinyBlock(nn.Module):
    def __init__(self, dims=(32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))  # 32 -> 8
        self.stage1 = nn.Sequential(CNBlock(dims[0]), CNBlock(dims[0]))
        self.down = nn.Sequential(LayerNorm2d(dims[0], eps=1e-6), nn.Conv2d(dims[0], dims[1], 2, 2))  # 8 -> 4
        self.stage2 = nn.Sequential(CNBlock(dims[1]))
        self.head_norm = LayerNorm2d(dims[1], eps=1e-6)
        self.fc = nn.Linear(dims[1], NUM_CLASSES)

    def forward(self, x):
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        x = self.head_norm(F.adaptive_avg_pool2d(x, 1))
        return self.fc(torch.flatten(x, 1))


# --------------------------------------------------------------------------
# shufflenet_tiny: ShuffleNetV2 units (chunk split, concat, channel shuffle)


def channel_shuffle(x, groups: int):
    # Same as torchvision: sizes come from x.size(), so the ONNX graph gets
    # Shape/Gather/Concat subgraphs feeding the Reshapes (dynamic batch).
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, -1, height, width)


def _dw(c, stride):
    return nn.Sequential(nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c))


def _pw(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        branch = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(_dw(cin, stride), _pw(cin, branch))
        else:
            assert cin == branch * 2
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(_pw(cin if stride > 1 else branch, branch), _dw(branch, stride), _pw(branch, branch))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetTiny(nn.Module):
    def __init__(self, chans=(24, 48, 96), final=128):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, chans[0], 3, 1, 1, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1)  # 32 -> 16
        self.stage2 = nn.Sequential(ShuffleUnit(chans[0], chans[1], 2), ShuffleUnit(chans[1], chans[1], 1))  # -> 8
        self.stage3 = nn.Sequential(ShuffleUnit(chans[1], chans[2], 2), ShuffleUnit(chans[2], chans[2], 1))  # -> 4
        self.conv5 = _pw(chans[2], final)
        self.fc = nn.Linear(final, NUM_CLASSES)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage3(self.stage2(x)))
        return self.fc(x.mean([2, 3]))


MODELS = {
    "resnet_tiny": (ResNetTiny, (1, 3, 64, 64)),
    "mobilenet_tiny": (MobileNetTiny, (1, 3, 64, 64)),
    "densenet_tiny": (DenseNetTiny, (1, 3, 32, 32)),
    "convnext_tiny_block": (ConvNeXtTinyBlock, (1, 3, 32, 32)),
    "shufflenet_tiny": (ShuffleNetTiny, (1, 3, 32, 32)),
}


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=here, help="output folder (default: models/)")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(MODELS))
    args = ap.parse_args()
    torch.set_num_threads(1)

    names = list(MODELS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            ap.error("unknown model(s): " + ",".join(unknown))

    for name in names:
        cls, shape = MODELS[name]
        t0 = time.time()
        seed = name_seed(name)
        torch.manual_seed(seed)
        model = cls().eval()
        info = export_model(model, os.path.join(args.out, name), shape, seed)
        print(
            f"{name:20s} {time.time() - t0:5.1f}s  BN={info['bn']:3d}  nodes={sum(info['ops'].values()):4d}  "
            f"size={info['size'] / 1e3:6.1f}KB  in={shape} out={info['out_shape']} |out|max={info['out_absmax']:.3g}  "
            f"torch f32 vs f64 rel={info['torch_f32_rel_err']:.2e}",
            flush=True,
        )
        print(f"{'':20s} ops: {format_ops(info['ops'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
