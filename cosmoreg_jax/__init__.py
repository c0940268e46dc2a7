"""CosmoReg for JAX: an adaptive activation regularizer as pure, jit-able functions.

``cosmoreg_jax.functional`` holds the math and ``value_and_split_grad`` the task and energy
gradients of one forward pass. The optax transformation (``cosmoreg``, ``CosmoRegState``, ...) is
loaded on first access, so ``import cosmoreg_jax`` needs neither optax nor flax; the Flax helpers
are ``import cosmoreg_jax.flax``. The PyTorch twin is ``cosmoreg_torch``; this package never
imports PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

from cosmoreg_jax import functional
from cosmoreg_jax.functional import adaptive_lambda, cosmoreg_loss, energy, potential
from cosmoreg_jax.grad import value_and_split_grad
from cosmoreg_jax.theory import barrier_radius, stable_radius

# Names served by cosmoreg_jax.transform, which imports optax.
_TRANSFORM = ("CosmoRegState", "cosmoreg", "cosmoreg_step_grads", "current_lambda", "needs_refresh")

__all__ = [
    "CosmoRegState",
    "adaptive_lambda",
    "barrier_radius",
    "cosmoreg",
    "cosmoreg_loss",
    "cosmoreg_step_grads",
    "current_lambda",
    "energy",
    "functional",
    "needs_refresh",
    "potential",
    "stable_radius",
    "value_and_split_grad",
]


def __getattr__(name: str) -> Any:
    if name in _TRANSFORM:
        return getattr(importlib.import_module("cosmoreg_jax.transform"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
