"""The ``seed_table.py`` models in PyTorch (NCHW); ``models_flax.py`` mirrors them name by name.

Both models end in a ``pool`` submodule whose output, the (batch, features) pooled
representation, is what the CosmoReg arms tap.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seedtable.experiments import NORM_GROUPS, Block, MobileNetSpec, TransformerSpec

__all__ = ["EncoderBlock", "InvertedResidual", "MeanPool", "MobileNetV2", "TransformerClassifier"]

TAPPED = "pool"
NORM_EPS = 1e-5


class MeanPool(nn.Module):
    """The mean over ``dims``: global average pooling."""

    def __init__(self, dims: int | tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=self.dims)


def conv_norm(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1):
    """Conv (no bias, 'same'-style padding k//2) then GroupNorm."""
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False
        ),
        nn.GroupNorm(NORM_GROUPS, out_channels, eps=NORM_EPS),
    )


class InvertedResidual(nn.Module):
    """Expand (1×1, ReLU6) → depthwise 3×3 (ReLU6) → linear bottleneck (1×1), plus a residual
    connection when the shape is kept."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        hidden = block.in_channels * block.expansion
        self.expand = conv_norm(block.in_channels, hidden, 1) if block.expansion > 1 else None
        self.depthwise = conv_norm(hidden, hidden, 3, block.stride, groups=hidden)
        self.project = conv_norm(hidden, block.out_channels, 1)
        self.residual = block.stride == 1 and block.in_channels == block.out_channels

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.expand is None else nn.functional.relu6(self.expand(x))
        h = self.project(nn.functional.relu6(self.depthwise(h)))
        return x + h if self.residual else h


class MobileNetV2(nn.Module):
    """Stem 3×3 → inverted residual blocks → 1×1 conv → global average pool → linear head."""

    def __init__(self, spec: MobileNetSpec) -> None:
        super().__init__()
        self.stem = conv_norm(1, spec.stem, 3)
        self.blocks = nn.Sequential(*(InvertedResidual(block) for block in spec.blocks))
        self.last = conv_norm(spec.blocks[-1].out_channels, spec.head, 1)
        self.pool = MeanPool((2, 3))
        self.classifier = nn.Linear(spec.head, spec.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(nn.functional.relu6(self.stem(x)))
        return self.classifier(self.pool(nn.functional.relu6(self.last(h))))


def layer_norm(spec: TransformerSpec) -> nn.LayerNorm:
    return nn.LayerNorm(spec.dim, eps=NORM_EPS)


class EncoderBlock(nn.Module):
    """Post-LN Transformer encoder block: x ← norm(x + attention(x)); x ← norm(x + ffn(x)).
    Without ``layer_norm`` both norms are the identity."""

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(spec.dim, spec.heads, batch_first=True)
        self.ffn = nn.Sequential(
            nn.Linear(spec.dim, spec.ff_dim), nn.ReLU(), nn.Linear(spec.ff_dim, spec.dim)
        )
        self.norm1 = layer_norm(spec) if spec.layer_norm else nn.Identity()
        self.norm2 = layer_norm(spec) if spec.layer_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
        return self.norm2(x + self.ffn(x))


class TransformerClassifier(nn.Module):
    """Token + learned position embeddings → encoder blocks → mean over tokens → linear head."""

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.tokens = nn.Embedding(spec.vocab_size, spec.dim)
        self.positions = nn.Embedding(spec.maxlen, spec.dim)
        self.blocks = nn.Sequential(*(EncoderBlock(spec) for _ in range(spec.depth)))
        self.pool = MeanPool(1)
        self.classifier = nn.Linear(spec.dim, spec.num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        h = self.blocks(self.tokens(tokens) + self.positions(positions))
        return self.classifier(self.pool(h))


def build(spec: MobileNetSpec | TransformerSpec) -> nn.Module:
    return MobileNetV2(spec) if isinstance(spec, MobileNetSpec) else TransformerClassifier(spec)
