"""What ``seed_table.py`` runs, shared by its PyTorch and JAX trainers (NumPy only).

The two experiments of the published table, their arms and hyper-parameters, the architectures
as plain numbers (both frameworks build their models from these), the inputs as arrays and
the batch order (drawn with NumPy, so a seed gives the same batches in both frameworks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from seedtable.data import Dataset

# CosmoReg, as published: λ_t = Λ0·exp(−min(α·‖∇L_task‖², 70)), S = Σ_i φ(‖h_i‖²) with M = 1.
LAMBDA_0, ALPHA, M_SCALE = 0.01, 0.05, 1.0
# The L2 arm adds L2_WEIGHT·Σθ² to the loss, the sum running over the weight matrices and conv
# kernels (parameters with ndim ≥ 2), not biases or normalization scales: Keras's
# ``kernel_regularizer=l2(0.001)``.
L2_WEIGHT = 1e-3
LEARNING_RATE = 1e-3  # Adam, PyTorch and optax defaults otherwise
MAXLEN, VOCAB_SIZE = 200, 20_000


@dataclass(frozen=True)
class Arm:
    """One row of the table: how the model is built and regularized, and the published result."""

    name: str
    cosmoreg: bool
    l2_weight: float
    layer_norm: bool
    published_accuracy: float
    published_loss: float


@dataclass(frozen=True)
class Experiment:
    dataset: str
    model: str
    arms: tuple[Arm, ...]


EXPERIMENTS = {
    "fashion-mnist": Experiment(
        "fashion-mnist",
        "MobileNetV2",
        (
            Arm("CosmoReg", True, 0.0, False, 0.8901, 0.3060),
            Arm("L2 (λ=0.001)", False, L2_WEIGHT, False, 0.8877, 0.3405),
        ),
    ),
    "imdb": Experiment(
        "imdb",
        "Transformer",
        (
            Arm("CosmoReg, no LayerNorm", True, 0.0, False, 0.8643, 0.3617),
            Arm("LayerNorm", False, 0.0, True, 0.8576, 0.4110),
        ),
    ),
}


@dataclass(frozen=True)
class Result:
    """One trained model: its test accuracy in [0, 1], mean test cross-entropy, and size."""

    accuracy: float
    loss: float
    parameters: int


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    width: float  # multiplies every channel count and the Transformer's widths
    depth: float  # multiplies the blocks per MobileNetV2 stage and the Transformer's blocks


# --- Architectures ------------------------------------------------------------------------

# MobileNetV2 for 28×28×1 (Sandler et al. 2018, Table 2, shortened): a 3×3 stem at stride 1,
# then stages of inverted residual blocks (expansion t, output channels c, repeats n, stride s of
# the first block) taking 28×28 to 14×14 to 7×7, a 1×1 conv, global average pooling, a linear
# head. Batch norm is replaced by GroupNorm (stateless: train and test compute the same thing,
# identically in both frameworks).
MOBILENET_STEM, MOBILENET_HEAD, NORM_GROUPS = 16, 256, 8
MOBILENET_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 1))
# Transformer encoder (post-LN, as in the Keras IMDB example, without dropout).
TRANSFORMER_DIM, TRANSFORMER_HEADS, TRANSFORMER_FF, TRANSFORMER_DEPTH = 64, 2, 128, 2


@dataclass(frozen=True)
class Block:
    """One inverted residual block: in → in·expansion (1×1) → depthwise 3×3 → out (1×1)."""

    in_channels: int
    out_channels: int
    stride: int
    expansion: int


@dataclass(frozen=True)
class MobileNetSpec:
    stem: int
    blocks: tuple[Block, ...]
    head: int
    num_classes: int


@dataclass(frozen=True)
class TransformerSpec:
    vocab_size: int
    maxlen: int
    dim: int
    heads: int
    ff_dim: int
    depth: int
    layer_norm: bool
    num_classes: int


def scaled(channels: int, width: float) -> int:
    """``channels·width`` rounded to a multiple of ``NORM_GROUPS`` (at least one group)."""
    return max(NORM_GROUPS, NORM_GROUPS * round(channels * width / NORM_GROUPS))


def repeats(blocks: int, depth: float) -> int:
    """``blocks·depth`` rounded, at least 1."""
    return max(1, round(blocks * depth))


def mobilenet_spec(width: float, depth: float, num_classes: int) -> MobileNetSpec:
    blocks, channels = [], scaled(MOBILENET_STEM, width)
    for expansion, out, n, stride in MOBILENET_STAGES:
        for i in range(repeats(n, depth)):
            blocks.append(Block(channels, scaled(out, width), stride if i == 0 else 1, expansion))
            channels = scaled(out, width)
    return MobileNetSpec(
        scaled(MOBILENET_STEM, width), tuple(blocks), scaled(MOBILENET_HEAD, width), num_classes
    )


def transformer_spec(
    width: float, depth: float, layer_norm: bool, num_classes: int
) -> TransformerSpec:
    return TransformerSpec(
        vocab_size=VOCAB_SIZE,
        maxlen=MAXLEN,
        dim=scaled(TRANSFORMER_DIM, width),
        heads=TRANSFORMER_HEADS,
        ff_dim=scaled(TRANSFORMER_FF, width),
        depth=repeats(TRANSFORMER_DEPTH, depth),
        layer_norm=layer_norm,
        num_classes=num_classes,
    )


def model_spec(
    experiment: Experiment, arm: Arm, config: TrainConfig, num_classes: int
) -> MobileNetSpec | TransformerSpec:
    """The architecture of ``arm``'s model, scaled by ``config.width`` and ``config.depth``."""
    if experiment.model == "MobileNetV2":
        return mobilenet_spec(config.width, config.depth, num_classes)
    return transformer_spec(config.width, config.depth, arm.layer_norm, num_classes)


# --- Data ---------------------------------------------------------------------------------


def inputs(data: Dataset, split: str) -> np.ndarray:
    """Model inputs: images as float32 NHWC in [0, 1], token ids as int32."""
    x = getattr(data, f"x_{split}")
    return x[..., None].astype(np.float32) / 255.0 if x.dtype == np.uint8 else x


def limited(data: Dataset, limit: int | None) -> Dataset:
    """``data`` with only its first ``limit`` training examples (all of them for None)."""
    if limit is None:
        return data
    return Dataset(
        data.x_train[:limit], data.y_train[:limit], data.x_test, data.y_test, data.num_classes
    )


def train_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Indices of one epoch's batches, shuffled by ``rng``; an incomplete last batch is dropped
    (if ``n < batch_size``, one batch of all ``n``)."""
    order = rng.permutation(n)
    for start in range(0, max(n - batch_size, 0) + 1, batch_size):
        yield order[start : start + batch_size]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(n // batch_size, 1)


def eval_batches(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices covering all ``n`` test examples."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
