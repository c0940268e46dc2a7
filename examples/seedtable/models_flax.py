"""The ``seed_table.py`` models in Flax NNX (NHWC); ``models_torch.py`` mirrors them name by name.

Both models end in a ``pool`` submodule whose output, the (batch, features) pooled
representation, is recorded with ``cosmoreg_jax.flax.tap`` on every call; the CosmoReg arms
collect it (the PyTorch twins are tapped from outside, by a hook on ``pool``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

import cosmoreg_jax.flax
from seedtable.experiments import NORM_GROUPS, Block, MobileNetSpec, TransformerSpec

__all__ = ["EncoderBlock", "InvertedResidual", "MeanPool", "MobileNetV2", "TransformerClassifier"]

NORM_EPS = 1e-5


class MeanPool(nnx.Module):
    """The mean over ``axes``: global average pooling."""

    def __init__(self, axes: int | tuple[int, ...]) -> None:
        self.axes = axes

    def __call__(self, x: jax.Array) -> jax.Array:
        return x.mean(axis=self.axes)


def conv_norm(
    in_channels: int,
    out_channels: int,
    kernel: int,
    *,
    rngs: nnx.Rngs,
    stride: int = 1,
    groups: int = 1,
) -> nnx.Sequential:
    """Conv (no bias, explicit padding k//2 as in PyTorch) then GroupNorm."""
    pad = kernel // 2
    return nnx.Sequential(
        nnx.Conv(
            in_channels,
            out_channels,
            (kernel, kernel),
            stride,
            padding=((pad, pad), (pad, pad)),
            feature_group_count=groups,
            use_bias=False,
            rngs=rngs,
        ),
        nnx.GroupNorm(out_channels, NORM_GROUPS, epsilon=NORM_EPS, rngs=rngs),
    )


class InvertedResidual(nnx.Module):
    """Expand (1×1, ReLU6) → depthwise 3×3 (ReLU6) → linear bottleneck (1×1), plus a residual
    connection when the shape is kept."""

    def __init__(self, block: Block, *, rngs: nnx.Rngs) -> None:
        hidden = block.in_channels * block.expansion
        self.expand = (
            conv_norm(block.in_channels, hidden, 1, rngs=rngs) if block.expansion > 1 else None
        )
        self.depthwise = conv_norm(hidden, hidden, 3, rngs=rngs, stride=block.stride, groups=hidden)
        self.project = conv_norm(hidden, block.out_channels, 1, rngs=rngs)
        self.residual = block.stride == 1 and block.in_channels == block.out_channels

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x if self.expand is None else jax.nn.relu6(self.expand(x))
        h = self.project(jax.nn.relu6(self.depthwise(h)))
        return x + h if self.residual else h


class MobileNetV2(nnx.Module):
    """Stem 3×3 → inverted residual blocks → 1×1 conv → global average pool → linear head."""

    def __init__(self, spec: MobileNetSpec, *, rngs: nnx.Rngs) -> None:
        self.stem = conv_norm(1, spec.stem, 3, rngs=rngs)
        self.blocks = nnx.Sequential(*(InvertedResidual(block, rngs=rngs) for block in spec.blocks))
        self.last = conv_norm(spec.blocks[-1].out_channels, spec.head, 1, rngs=rngs)
        self.pool = MeanPool((1, 2))
        self.classifier = nnx.Linear(spec.head, spec.num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.blocks(jax.nn.relu6(self.stem(x)))
        pooled = cosmoreg_jax.flax.tap(self, self.pool(jax.nn.relu6(self.last(h))))
        return self.classifier(pooled)


class Identity(nnx.Module):
    """x ↦ x (``torch.nn.Identity``)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return x


def layer_norm(spec: TransformerSpec, rngs: nnx.Rngs) -> nnx.LayerNorm:
    return nnx.LayerNorm(spec.dim, epsilon=NORM_EPS, rngs=rngs)


class EncoderBlock(nnx.Module):
    """Post-LN Transformer encoder block: x ← norm(x + attention(x)); x ← norm(x + ffn(x)).
    Without ``layer_norm`` both norms are the identity."""

    def __init__(self, spec: TransformerSpec, *, rngs: nnx.Rngs) -> None:
        self.attention = nnx.MultiHeadAttention(
            spec.heads, spec.dim, decode=False, keep_rngs=False, rngs=rngs
        )
        self.ffn = nnx.Sequential(
            nnx.Linear(spec.dim, spec.ff_dim, rngs=rngs),
            jax.nn.relu,
            nnx.Linear(spec.ff_dim, spec.dim, rngs=rngs),
        )
        self.norm1 = layer_norm(spec, rngs) if spec.layer_norm else Identity()
        self.norm2 = layer_norm(spec, rngs) if spec.layer_norm else Identity()

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.ffn(x))


class TransformerClassifier(nnx.Module):
    """Token + learned position embeddings → encoder blocks → mean over tokens → linear head."""

    def __init__(self, spec: TransformerSpec, *, rngs: nnx.Rngs) -> None:
        self.tokens = nnx.Embed(spec.vocab_size, spec.dim, rngs=rngs)
        self.positions = nnx.Embed(spec.maxlen, spec.dim, rngs=rngs)
        self.blocks = nnx.Sequential(*(EncoderBlock(spec, rngs=rngs) for _ in range(spec.depth)))
        self.pool = MeanPool(1)
        self.classifier = nnx.Linear(spec.dim, spec.num_classes, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        positions = jnp.arange(tokens.shape[1])
        h = self.blocks(self.tokens(tokens) + self.positions(positions))
        return self.classifier(cosmoreg_jax.flax.tap(self, self.pool(h)))


def build(spec: MobileNetSpec | TransformerSpec, seed: int) -> nnx.Module:
    rngs = nnx.Rngs(seed)
    if isinstance(spec, MobileNetSpec):
        return MobileNetV2(spec, rngs=rngs)
    return TransformerClassifier(spec, rngs=rngs)
