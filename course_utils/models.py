"""Small network builders the architecture lectures share, each checked by counting the built module.

LeNet-5, AlexNet (zoo and 2012 versions), VGG, SqueezeNet, the Inception module, ResNet (basic and bottleneck units, plain or residual),
DenseNet (dense block, transition layer), Squeeze-and-Excitation, the ConvNeXt modernization
steps, and self-attention / MLP-Mixer layers on image patches. Everything is plain ``torch.nn``;
sizes are counted with :mod:`course_utils.measure`::

    with torch.device("meta"):                    # no memory, no compute: only shapes
        net = cu.models.resnet((3, 4, 6, 3))       # ResNet-34
    cu.measure.multiply_adds(net, (1, 3, 224, 224))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .arithmetic import conv_output_size
from .validation import check_int

VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", *[256] * 3, "M", *[512] * 3, "M", *[512] * 3, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", *[256] * 4, "M", *[512] * 4, "M", *[512] * 4, "M"],
}
RESNET_DEPTHS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


# ------------------------------------------------------------------ LeNet and VGG


def lenet5(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 32,
    padding: int = 0,
    activation: str = "tanh",
) -> nn.Sequential:
    """LeNet-5 on (N, in_channels, image_size, image_size) -> logits (N, num_classes).

    Two 5x5 convolutions (6 and 16 channels, ``padding`` per side), each followed by the
    activation and 2x2 average pooling, then fully connected layers 120 -> 84 -> classes.
    On 32x32 inputs with ``padding=0`` this is LeCun et al.'s network (61,706 parameters).
    """
    size = check_int("image_size", image_size, 1)
    for _ in range(2):
        if size + 2 * padding < 5:
            raise ValueError(
                f"image_size {image_size} is too small for LeNet-5 with padding {padding}"
            )
        size = conv_output_size(size, 5, padding=padding) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=padding),
        _activation(activation),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5, padding=padding),
        _activation(activation),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * size * size, 120),
        _activation(activation),
        nn.Linear(120, 84),
        _activation(activation),
        nn.Linear(84, num_classes),
    )


def vgg(
    config: str | Sequence[int | str] = "vgg19",
    in_channels: int = 3,
    num_classes: int = 1000,
    image_size: int = 224,
) -> nn.Sequential:
    """VGG on (N, in_channels, image_size, image_size) -> (N, num_classes).

    ``config`` names a row of :data:`VGG_CONFIGS` or lists widths of 3x3 convolutions (padding 1,
    ReLU) with ``"M"`` for 2x2 max pooling; the head is 4096 -> 4096 -> classes.
    """
    layers_config = VGG_CONFIGS[config] if isinstance(config, str) else list(config)
    if isinstance(config, str) and config not in VGG_CONFIGS:
        raise ValueError(f"config must be one of {sorted(VGG_CONFIGS)} or a list, got {config!r}")
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for item in layers_config:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            size //= 2
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
    layers += [nn.Flatten(), nn.Linear(channels * size * size, 4096), nn.ReLU()]
    layers += [nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes)]
    return nn.Sequential(*layers)


def alexnet(num_classes: int = 1000) -> nn.Sequential:
    """AlexNet (single-tower, as in PyTorch's model zoo) on (N, 3, 224, 224) -> (N, num_classes)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d(6),
        nn.Flatten(),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, num_classes),
    )


def alexnet_2012(
    remove: Sequence[int] = (),
    conv_widths: Sequence[int] = (96, 256, 384, 384, 256),
    fc_width: int = 4096,
    num_classes: int = 1000,
    groups: int = 1,
) -> nn.Sequential:
    """Krizhevsky et al.'s AlexNet on (N, 3, 227, 227) -> (N, num_classes), layers 1-8 by number.

    Convolutions 1-5 (11x11/4, 5x5, 3x3, 3x3, 3x3; widths ``conv_widths``), 3x3/2 max pools after
    1, 2 and 5, fully connected 6 and 7 (``fc_width``) and the classifier 8. ``remove`` drops any
    of the layers 3, 4, 6, 7 (Zeiler & Fergus's ablations; the next layer takes the inputs
    instead). ``groups=2`` splits convolutions 2, 4 and 5 over two GPUs' halves as in the paper.
    """
    allowed = {3, 4, 6, 7}
    if not set(remove) <= allowed:
        raise ValueError(f"remove may only hold layers {sorted(allowed)}, got {sorted(remove)}")
    if len(conv_widths) != 5:
        raise ValueError(f"conv_widths must have 5 entries, got {conv_widths!r}")
    specs = [(11, 4, 0, 1), (5, 1, 2, groups), (3, 1, 1, 1), (3, 1, 1, groups), (3, 1, 1, groups)]
    layers: list[nn.Module] = []
    channels = 3
    for number, ((k, s, p, g), width) in enumerate(zip(specs, conv_widths, strict=True), start=1):
        if number in remove:
            continue
        layers += [nn.Conv2d(channels, width, k, stride=s, padding=p, groups=g), nn.ReLU()]
        channels = width
        if number in (1, 2, 5):
            layers.append(nn.MaxPool2d(3, 2))
    layers.append(nn.Flatten())
    features = channels * 6 * 6
    for number in (6, 7):
        if number not in remove:
            layers += [nn.Linear(features, fc_width), nn.ReLU()]
            features = fc_width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


class Fire(nn.Module):
    """SqueezeNet's fire module (N, C, H, W) -> (N, e1 + e3, H, W): 1x1 squeeze, 1x1 and 3x3 expand."""

    def __init__(self, in_channels: int, squeeze: int, expand1: int, expand3: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(in_channels, squeeze, 1), nn.ReLU())
        self.expand1 = nn.Sequential(nn.Conv2d(squeeze, expand1, 1), nn.ReLU())
        self.expand3 = nn.Sequential(nn.Conv2d(squeeze, expand3, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.expand1(s), self.expand3(s)], dim=1)


def squeezenet(num_classes: int = 1000) -> nn.Sequential:
    """SqueezeNet 1.0 (Iandola et al. 2016) on (N, 3, 224, 224) -> (N, num_classes)."""
    fires = [(96, 16, 64), (128, 16, 64), (128, 32, 128), "M", (256, 32, 128), (256, 48, 192)]
    fires += [(384, 48, 192), (384, 64, 256), "M", (512, 64, 256)]
    layers: list[nn.Module] = [
        nn.Conv2d(3, 96, 7, stride=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
    ]
    for item in fires:
        if item == "M":
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
        else:
            c_in, squeeze, expand = item
            layers.append(Fire(c_in, squeeze, expand, expand))
    layers += [nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


# ------------------------------------------------------------------ Inception


class Inception(nn.Module):
    """GoogLeNet's inception module: (N, C, H, W) -> (N, c1 + c3 + c5 + pool channels, H, W).

    Four branches side by side, concatenated along channels: 1x1; 1x1 reduce then 3x3; 1x1
    reduce then 5x5; 3x3 max pool then 1x1 projection. With ``bottleneck=False`` (the naive
    module) the 3x3 and 5x5 convolutions see all C input channels and the pool branch passes
    its C channels on unchanged. Every convolution is followed by a ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        c1: int,
        c3_reduce: int,
        c3: int,
        c5_reduce: int,
        c5: int,
        pool_proj: int,
        bottleneck: bool = True,
    ) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU()]

        c_in = in_channels
        self.branch1 = nn.Sequential(*conv(c_in, c1, 1))
        if bottleneck:
            self.branch3 = nn.Sequential(*conv(c_in, c3_reduce, 1), *conv(c3_reduce, c3, 3))
            self.branch5 = nn.Sequential(*conv(c_in, c5_reduce, 1), *conv(c5_reduce, c5, 5))
            self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), *conv(c_in, pool_proj, 1))
        else:
            self.branch3 = nn.Sequential(*conv(c_in, c3, 3))
            self.branch5 = nn.Sequential(*conv(c_in, c5, 5))
            self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, 1))
        self.out_channels = c1 + c3 + c5 + (pool_proj if bottleneck else c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch3, self.branch5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


# ------------------------------------------------------------------ ResNet


class _ZeroPadShortcut(nn.Module):
    """ResNet's option A: subsample by ``stride`` and append zero channels, no parameters."""

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.out_channels - x.shape[1]))


class ResidualUnit(nn.Module):
    """A ResNet unit (N, C_in, H, W) -> (N, C_out, H/stride, W/stride): F(x) + shortcut(x), ReLU.

    ``kind="basic"``: two 3x3 convolutions; ``"bottleneck"``: 1x1 (C_out/4), 3x3, 1x1 (C_out),
    with the stride on the first 1x1 as in He et al. 2016. Each convolution is followed by batch
    normalization. ``residual=False`` drops the shortcut (the plain network). When the shape
    changes the shortcut is a strided 1x1 convolution with batch norm (``shortcut="projection"``,
    option B) or subsampling plus zero channels (``"zeros"``, option A, no parameters).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        kind: str = "basic",
        residual: bool = True,
        shortcut: str = "projection",
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in ("basic", "bottleneck"):
            raise ValueError(f"kind must be 'basic' or 'bottleneck', got {kind!r}")
        if shortcut not in ("projection", "zeros"):
            raise ValueError(f"shortcut must be 'projection' or 'zeros', got {shortcut!r}")

        def conv_bn(c_in: int, c_out: int, k: int, s: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2, bias=False)
            return [conv, nn.BatchNorm2d(c_out)]

        if kind == "basic":
            layers = [*conv_bn(in_channels, out_channels, 3, stride), nn.ReLU()]
            layers += conv_bn(out_channels, out_channels, 3, 1)
        else:
            mid = out_channels // 4
            layers = [*conv_bn(in_channels, mid, 1, stride), nn.ReLU()]
            layers += [*conv_bn(mid, mid, 3, 1), nn.ReLU(), *conv_bn(mid, out_channels, 1, 1)]
        if se_reduction is not None:
            layers.append(SqueezeExcitation(out_channels, se_reduction))
        self.residual_function = nn.Sequential(*layers)
        self.residual = residual
        self.shortcut: nn.Module = nn.Identity()
        if residual and (stride != 1 or in_channels != out_channels):
            if shortcut == "projection":
                self.shortcut = nn.Sequential(*conv_bn(in_channels, out_channels, 1, stride))
            else:
                self.shortcut = _ZeroPadShortcut(out_channels, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual_function(x)
        if self.residual:
            out = out + self.shortcut(x)
        return self.relu(out)


def resnet(
    depth_or_blocks: int | Sequence[int] = 34,
    kind: str | None = None,
    widths: Sequence[int] | None = None,
    residual: bool = True,
    shortcut: str = "projection",
    in_channels: int = 3,
    num_classes: int = 1000,
    stem: str = "imagenet",
    se_reduction: int | None = None,
) -> nn.Sequential:
    """ResNet (or its plain twin) on (N, in_channels, H, W) -> (N, num_classes).

    ``depth_or_blocks`` is 18, 34, 50, 101, 152 (He et al.'s Table 1) or the number of units per
    stage; ``kind`` is "basic" or "bottleneck" (default: from the depth, else "basic"); stage
    widths default to 64, 128, 256, 512 (times 4 for bottleneck units). Every stage after the
    first halves the resolution. ``stem="imagenet"`` is the 7x7/2 convolution and 3x3/2 max pool;
    ``"small"`` a 3x3/1 convolution for tiny images. ``residual=False`` builds the plain network;
    ``se_reduction`` adds a Squeeze-and-Excitation block to every unit (SE-ResNet).
    """
    if isinstance(depth_or_blocks, int):
        if depth_or_blocks not in RESNET_DEPTHS:
            raise ValueError(f"depth must be one of {sorted(RESNET_DEPTHS)}, got {depth_or_blocks}")
        default_kind, blocks = RESNET_DEPTHS[depth_or_blocks]
    else:
        default_kind, blocks = "basic", tuple(depth_or_blocks)
    kind = kind or default_kind
    expansion = 4 if kind == "bottleneck" else 1
    widths = tuple(widths) if widths is not None else tuple(64 * 2**i for i in range(len(blocks)))
    if len(widths) != len(blocks):
        raise ValueError(f"widths must have one entry per stage ({len(blocks)}), got {widths}")
    if stem == "imagenet":
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
    elif stem == "small":
        layers = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)]
        layers += [nn.BatchNorm2d(widths[0]), nn.ReLU()]
    else:
        raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
    channels = widths[0]
    for stage, (count, width) in enumerate(zip(blocks, widths, strict=True)):
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            out = width * expansion
            layers.append(
                ResidualUnit(channels, out, stride, kind, residual, shortcut, se_reduction)
            )
            channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


# ------------------------------------------------------------------ DenseNet


class DenseLayer(nn.Module):
    """One DenseNet layer (N, C, H, W) -> (N, C + growth_rate, H, W): its k new maps appended.

    BN-ReLU-Conv(3x3, k); with ``bottleneck`` (DenseNet-B) first BN-ReLU-Conv(1x1, 4k).
    """

    def __init__(self, in_channels: int, growth_rate: int, bottleneck: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        if bottleneck:
            layers += [nn.BatchNorm2d(channels), nn.ReLU()]
            layers.append(nn.Conv2d(channels, 4 * growth_rate, 1, bias=False))
            channels = 4 * growth_rate
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        layers.append(nn.Conv2d(channels, growth_rate, 3, padding=1, bias=False))
        self.new_features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.new_features(x)], dim=1)


def dense_block(
    num_layers: int, in_channels: int, growth_rate: int, bottleneck: bool = True
) -> nn.Sequential:
    """A dense block (N, k0, H, W) -> (N, k0 + num_layers * growth_rate, H, W)."""
    check_int("num_layers", num_layers, 1)
    return nn.Sequential(
        *[
            DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck)
            for i in range(num_layers)
        ]
    )


def transition(in_channels: int, compression: float = 0.5) -> nn.Sequential:
    """A transition layer (N, m, H, W) -> (N, floor(compression * m), H/2, W/2): BN-ReLU-1x1-avgpool."""
    if not 0 < compression <= 1:
        raise ValueError(f"compression must be in (0, 1], got {compression}")
    out = int(compression * in_channels)
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out, 1, bias=False),
        nn.AvgPool2d(2),
    )


def densenet(
    block_layers: Sequence[int] = (6, 12, 24, 16),
    growth_rate: int = 32,
    in_channels: int = 3,
    num_classes: int = 1000,
    compression: float = 0.5,
) -> nn.Sequential:
    """DenseNet-BC on (N, in_channels, 224, 224) -> (N, num_classes); the default is DenseNet-121.

    Stem 7x7/2 convolution (2k channels) and 3x3/2 max pool, dense blocks joined by transition
    layers, then BN-ReLU, global average pooling and a linear classifier.
    """
    channels = 2 * growth_rate
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    for index, count in enumerate(block_layers):
        layers.append(dense_block(count, channels, growth_rate))
        channels += count * growth_rate
        if index < len(block_layers) - 1:
            layers.append(transition(channels, compression))
            channels = int(compression * channels)
    layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    layers.append(nn.Linear(channels, num_classes))
    return nn.Sequential(*layers)


# ------------------------------------------------------------------ Squeeze-and-Excitation


class SqueezeExcitation(nn.Module):
    """SE block (N, C, H, W) -> (N, C, H, W): each channel scaled by a learned weight in (0, 1).

    Squeeze: global average pool to (N, C). Excitation: Linear C -> C/r, ReLU, Linear C/r -> C,
    sigmoid. The weights of the last call are kept in ``last_weights`` (N, C).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // check_int("reduction", reduction, 1), 1)
        self.excitation = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid()
        )
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.excitation(x.mean(dim=(2, 3)))
        self.last_weights = weights.detach()
        return x * weights[:, :, None, None]


# ------------------------------------------------------------------ ConvNeXt steps


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, H, W), at every position (ConvNeXt's LN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# Each step of Liu et al. 2022's Figure 2, as the block it produces (cumulative changes).
CONVNEXT_STEPS: list[tuple[str, dict[str, object]]] = [
    ("ResNet bottleneck", {}),
    ("depthwise conv (ResNeXtify)", {"depthwise": True}),
    ("inverted bottleneck", {"depthwise": True, "inverted": True}),
    ("depthwise conv moved up", {"depthwise": True, "inverted": True, "dw_first": True}),
    ("kernel 7x7", {"depthwise": True, "inverted": True, "dw_first": True, "kernel_size": 7}),
]
for _name, _options in [
    ("ReLU -> GELU", {"activation": "gelu"}),
    ("fewer activations", {"one_activation": True}),
    ("fewer norms", {"one_norm": True}),
    ("BN -> LN", {"norm": "layer"}),
]:
    CONVNEXT_STEPS.append((_name, {**CONVNEXT_STEPS[-1][1], **_options}))


class ModernizedBlock(nn.Module):
    """A residual block (N, dim, H, W) -> (N, dim, H, W) at one step from ResNet to ConvNeXt.

    Three convolutions: 1x1 reduce to dim/4, kxk, 1x1 back (``inverted``: expand to 4 dim and
    back). ``depthwise`` makes the kxk convolution depthwise (groups = channels); ``dw_first``
    moves it to the front (on dim channels). A norm follows every convolution and an activation
    every norm but the last, unless ``one_norm`` (a single norm after the first convolution) or
    ``one_activation`` (one activation, between the two 1x1 convolutions). The output adds x.
    """

    def __init__(
        self,
        dim: int = 96,
        kernel_size: int = 3,
        depthwise: bool = False,
        inverted: bool = False,
        dw_first: bool = False,
        activation: str = "relu",
        one_activation: bool = False,
        one_norm: bool = False,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if norm not in ("batch", "layer"):
            raise ValueError(f"norm must be 'batch' or 'layer', got {norm!r}")
        hidden = 4 * dim if inverted else dim // 4
        spatial_channels = dim if dw_first else hidden
        groups = spatial_channels if depthwise else 1
        spatial = nn.Conv2d(
            spatial_channels, spatial_channels, kernel_size, padding=kernel_size // 2, groups=groups
        )
        convs = [nn.Conv2d(dim, hidden, 1), spatial, nn.Conv2d(hidden, dim, 1)]
        if dw_first:
            convs = [spatial, nn.Conv2d(dim, hidden, 1), nn.Conv2d(hidden, dim, 1)]
        layers: list[nn.Module] = []
        for index, conv in enumerate(convs):
            layers.append(conv)
            if not one_norm or index == 0:
                channels = conv.out_channels
                layers.append(
                    LayerNorm2d(channels) if norm == "layer" else nn.BatchNorm2d(channels)
                )
            wants_activation = index == 1 if one_activation else index < 2
            if wants_activation:
                layers.append(_activation(activation))
        self.residual_function = nn.Sequential(*layers)
        self.final_activation = None if one_activation else _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.residual_function(x)
        return out if self.final_activation is None else self.final_activation(out)


def convnext_step_blocks(dim: int = 96) -> list[tuple[str, ModernizedBlock]]:
    """One :class:`ModernizedBlock` per step of :data:`CONVNEXT_STEPS`, all on ``dim`` channels."""
    return [(name, ModernizedBlock(dim, **options)) for name, options in CONVNEXT_STEPS]  # type: ignore[arg-type]


# ------------------------------------------------------------------ attention and MLPs


def patchify(in_channels: int, dim: int, patch_size: int) -> nn.Conv2d:
    """Patch embedding (N, C, H, W) -> (N, dim, H/p, W/p): a p x p convolution with stride p."""
    return nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)


class SelfAttention2d(nn.Module):
    """Single-head self-attention over the H*W positions of (N, C, H, W) -> (N, C, H, W).

    Queries, keys and values are 1x1 projections (C -> C); every position attends to every
    other one: softmax(Q K^T / sqrt(C)) V, then an output projection C -> C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (N, HW, C)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        attention = torch.softmax(q @ k.transpose(1, 2) / c**0.5, dim=-1)  # (N, HW, HW)
        out = self.out(attention @ v)
        return out.transpose(1, 2).reshape(n, c, h, w)


class MixerBlock(nn.Module):
    """MLP-Mixer block on patch tokens (N, P, C) -> (N, P, C): token mixing, then channel mixing.

    Each half is LayerNorm, a two-layer GELU MLP (over the P patches, hidden ``token_hidden``;
    over the C channels, hidden ``channel_hidden``) and a skip connection.
    """

    def __init__(self, num_patches: int, dim: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.token_mlp = nn.Sequential(
            nn.Linear(num_patches, token_hidden), nn.GELU(), nn.Linear(token_hidden, num_patches)
        )
        self.channel_mlp = nn.Sequential(
            nn.Linear(dim, channel_hidden), nn.GELU(), nn.Linear(channel_hidden, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))
