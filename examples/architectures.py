"""The evidence suite's other Flax NNX models on the digits (the MLP is ``flax_train.MLP``).

Each takes the flat (batch, 64) standardised digits, returns logits, and taps with
``cosmoreg_jax.flax.tap`` the representation CosmoReg regularizes.

* ``CNN``: the image (8×8×1) through two 3×3 "SAME" conv layers and a 2×2 average pool, then a
  dense hidden layer (ReLU, tapped) and the classifier. The convolutions are written as a Dense
  layer on 3×3 patches (the same function): XLA's CPU convolutions are ~100× slower here.
* ``Transformer``: the image read as a sequence of 8 tokens (its rows, 8 pixels each), embedded
  with learned positions, through post-LN encoder blocks as in the Keras IMDB example the
  published LayerNorm baseline follows (x ← LN(x + MHA(x)); x ← LN(x + FFN(x))), mean-pooled,
  then Dense(20, ReLU) and the classifier. Each block's output is tapped (one vector per token).
  ``layernorm=False`` drops both LayerNorms (identity), the arm where CosmoReg replaces them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from digits import NUM_CLASSES
from flax import nnx

import cosmoreg_jax.flax

__all__ = ["CNN", "Transformer"]

SIDE = 8  # the digits are 8×8


class Conv3x3(nnx.Module):
    """A 3×3 convolution with "SAME" zero padding, as a Dense layer on the 3×3 patches."""

    def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs) -> None:
        self.dense = nnx.Linear(9 * in_features, out_features, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        height, width = x.shape[1:3]
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        shifts = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
        return self.dense(jnp.concatenate(shifts, axis=-1))


class CNN(nnx.Module):
    """conv 3×3×16 → conv 3×3×32 → avg-pool 2×2 → hidden (ReLU, tapped) → 10."""

    def __init__(self, hidden: int = 128, *, rngs: nnx.Rngs) -> None:
        self.conv1 = Conv3x3(1, 16, rngs=rngs)
        self.conv2 = Conv3x3(16, 32, rngs=rngs)
        self.fc = nnx.Linear((SIDE // 2) ** 2 * 32, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, NUM_CLASSES, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(-1, SIDE, SIDE, 1)
        x = nnx.relu(self.conv2(nnx.relu(self.conv1(x))))
        x = nnx.avg_pool(x, (2, 2), strides=(2, 2))
        h = cosmoreg_jax.flax.tap(self, nnx.relu(self.fc(x.reshape(x.shape[0], -1))))
        return self.head(h)


class EncoderBlock(nnx.Module):
    """Post-LN encoder block; with ``layernorm=False`` both norms are the identity."""

    def __init__(self, dim: int, heads: int, ff_dim: int, layernorm: bool, *, rngs: nnx.Rngs):
        self.attention = nnx.MultiHeadAttention(
            num_heads=heads, in_features=dim, decode=False, rngs=rngs
        )
        self.ff_in = nnx.Linear(dim, ff_dim, rngs=rngs)
        self.ff_out = nnx.Linear(ff_dim, dim, rngs=rngs)
        self.norm_attention = nnx.LayerNorm(dim, rngs=rngs) if layernorm else None
        self.norm_ff = nnx.LayerNorm(dim, rngs=rngs) if layernorm else None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = _maybe_norm(self.norm_attention, x + self.attention(x))
        return _maybe_norm(self.norm_ff, x + self.ff_out(nnx.relu(self.ff_in(x))))


def _maybe_norm(norm: nnx.LayerNorm | None, x: jax.Array) -> jax.Array:
    return x if norm is None else norm(x)


class Transformer(nnx.Module):
    """8 row-tokens → embedding + positions → encoder blocks (tapped) → mean → 20 → 10."""

    def __init__(
        self,
        layernorm: bool = True,
        dim: int = 32,
        heads: int = 2,
        ff_dim: int = 32,
        blocks: int = 2,
        *,
        rngs: nnx.Rngs,
    ) -> None:
        self.embed = nnx.Linear(SIDE, dim, rngs=rngs)
        self.positions = nnx.Embed(SIDE, dim, rngs=rngs)
        self.blocks = nnx.List(
            [EncoderBlock(dim, heads, ff_dim, layernorm, rngs=rngs) for _ in range(blocks)]
        )
        self.fc = nnx.Linear(dim, 20, rngs=rngs)
        self.head = nnx.Linear(20, NUM_CLASSES, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        tokens = x.reshape(-1, SIDE, SIDE)  # (batch, 8 rows, 8 pixels)
        h = self.embed(tokens) + self.positions(jnp.arange(SIDE))
        for block in self.blocks:
            h = cosmoreg_jax.flax.tap(self, block(h))
        return self.head(nnx.relu(self.fc(h.mean(axis=1))))
