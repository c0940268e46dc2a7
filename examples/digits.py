"""The scikit-learn digits data set (8×8 grey images, 10 classes), split and standardised.

Framework-free (NumPy only), shared by the Flax and PyTorch examples so that both see the same
numbers. The split is fixed (seed 0): 60% train, 20% validation, 20% test, stratified by class.
Features are standardised with the training set's per-pixel mean and standard deviation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

__all__ = ["NUM_CLASSES", "NUM_FEATURES", "Split", "epoch_batches", "load_split"]

NUM_FEATURES = 64
NUM_CLASSES = 10
SPLIT_SEED = 0


@dataclass(frozen=True)
class Split:
    """Standardised float32 features (n, 64) and int32 labels (n,) of the three subsets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def subset(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


@cache
def load_split() -> Split:
    """The fixed train/validation/test split of the digits, standardised on the train set."""
    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, random_state=SPLIT_SEED, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=SPLIT_SEED, stratify=y_rest
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # the always-blank corner pixels

    def scale(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / std).astype(np.float32)

    return Split(
        scale(x_train),
        y_train.astype(np.int32),
        scale(x_val),
        y_val.astype(np.int32),
        scale(x_test),
        y_test.astype(np.int32),
    )


def epoch_batches(num_samples: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Index array (steps, batch_size) of one shuffled epoch; the last partial batch is dropped."""
    steps = num_samples // batch_size
    return rng.permutation(num_samples)[: steps * batch_size].reshape(steps, batch_size)


def seed_batches(seed: int, epochs: int, num_samples: int, batch_size: int) -> Iterator[np.ndarray]:
    """The batch indices of each epoch for one seed: the same order in every framework and arm."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        yield epoch_batches(num_samples, batch_size, rng)
