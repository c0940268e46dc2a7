"""CosmoReg for JAX: an adaptive activation regularizer as pure, jit-able functions.

``cosmoreg_jax.functional`` holds the math. The PyTorch twin is ``cosmoreg_torch``; this
package never imports PyTorch.
"""

from cosmoreg_jax import functional
from cosmoreg_jax.functional import adaptive_lambda, cosmoreg_loss, energy, potential
from cosmoreg_jax.theory import barrier_radius, stable_radius

__all__ = [
    "adaptive_lambda",
    "barrier_radius",
    "cosmoreg_loss",
    "energy",
    "functional",
    "potential",
    "stable_radius",
]
