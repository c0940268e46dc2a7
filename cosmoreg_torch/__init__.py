"""CosmoReg for PyTorch: an adaptive activation regularizer.

``CosmoRegLoss`` is a drop-in for the published class; ``cosmoreg_torch.functional`` holds the
math. For training, ``ActivationTap`` captures the outputs of named submodules and ``CosmoReg``
replaces ``loss.backward()`` with the adaptive ∇L_task + λ_t·∇S (the twin of the optax
transformation ``cosmoreg_jax.cosmoreg``). The JAX twin is ``cosmoreg_jax``; this package never
imports JAX.
"""

from cosmoreg_torch import functional
from cosmoreg_torch.functional import adaptive_lambda, cosmoreg_loss, energy, potential
from cosmoreg_torch.loss import CosmoRegLoss
from cosmoreg_torch.regularizer import CosmoReg
from cosmoreg_torch.tap import ActivationTap
from cosmoreg_torch.theory import barrier_radius, stable_radius

__all__ = [
    "ActivationTap",
    "CosmoReg",
    "CosmoRegLoss",
    "adaptive_lambda",
    "barrier_radius",
    "cosmoreg_loss",
    "energy",
    "functional",
    "potential",
    "stable_radius",
]
