"""CosmoReg for PyTorch: an adaptive activation regularizer.

``CosmoRegLoss`` is a drop-in for the published class; ``cosmoreg_torch.functional`` holds the
math. The JAX twin is ``cosmoreg_jax``; this package never imports JAX.
"""

from cosmoreg_torch import functional
from cosmoreg_torch.functional import adaptive_lambda, cosmoreg_loss, energy, potential
from cosmoreg_torch.loss import CosmoRegLoss
from cosmoreg_torch.theory import barrier_radius, stable_radius

__all__ = [
    "CosmoRegLoss",
    "adaptive_lambda",
    "barrier_radius",
    "cosmoreg_loss",
    "energy",
    "functional",
    "potential",
    "stable_radius",
]
