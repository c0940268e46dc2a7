"""NumPy float64 reference of the CosmoReg math, including the closed-form gradients.

φ(s)   = −(s+ε)·ln(s+ε) + s²/M²
φ'(s)  = −ln(s+ε) − 1 + 2s/M²
S      = Σ_i φ(s_i)  (or mean),          s_i = Σ_j h_ij²
∂S/∂h  = 2h·φ'(s)    (divided by the number of vectors for the mean)
λ_t    = Λ0·exp(−min(α·g, 70))
"""

from __future__ import annotations

import numpy as np

Axes = int | tuple[int, ...]


def potential(s: np.ndarray, M_scale: float = 1.0, eps: float = 1e-8) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    return -(s + eps) * np.log(s + eps) + s * s / (M_scale * M_scale)


def potential_grad(s: np.ndarray, M_scale: float = 1.0, eps: float = 1e-8) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    return -np.log(s + eps) - 1.0 + 2.0 * s / (M_scale * M_scale)


def squared_norms(h: np.ndarray, axis: Axes = -1) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    return np.sum(h * h, axis=axis)


def energy(
    h: np.ndarray, M_scale: float = 1.0, eps: float = 1e-8, axis: Axes = -1, reduction="sum"
) -> float:
    phi = potential(squared_norms(h, axis), M_scale, eps)
    return float(phi.sum() if reduction == "sum" else phi.mean())


def energy_abs(
    h: np.ndarray, M_scale: float = 1.0, eps: float = 1e-8, axis: Axes = -1, reduction="sum"
) -> float:
    """Σ_i |φ(s_i)| (or its mean): the scale against which summed energies are compared."""
    phi = np.abs(potential(squared_norms(h, axis), M_scale, eps))
    return float(phi.sum() if reduction == "sum" else phi.mean())


def energy_grad(
    h: np.ndarray, M_scale: float = 1.0, eps: float = 1e-8, axis: Axes = -1, reduction="sum"
) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    s = np.sum(h * h, axis=axis, keepdims=True)
    grad = 2.0 * h * potential_grad(s, M_scale, eps)
    if reduction == "mean":
        grad = grad / s.size
    return grad


def energy_grad_scale(
    h: np.ndarray, M_scale: float = 1.0, eps: float = 1e-8, axis: Axes = -1, reduction="sum"
) -> np.ndarray:
    """2|h|·(|ln(s+ε)| + 1 + 2s/M²): the size of the terms summed in ∂S/∂h, per element.

    Elementwise relative errors of gradients are measured against this, since φ'(s) cancels
    to zero at the barrier and at the stable radius.
    """
    h = np.asarray(h, dtype=np.float64)
    s = np.sum(h * h, axis=axis, keepdims=True)
    scale = 2.0 * np.abs(h) * (np.abs(np.log(s + eps)) + 1.0 + 2.0 * s / (M_scale * M_scale))
    if reduction == "mean":
        scale = scale / s.size
    return scale


def adaptive_lambda(
    g: float, lambda_0: float = 0.01, alpha: float = 0.05, max_exponent: float = 70.0
) -> float:
    return float(lambda_0 * np.exp(-min(alpha * float(g), max_exponent)))


def cosmoreg_loss(h, g, M_scale=1.0, lambda_0=0.01, alpha=0.05, eps=1e-8, axis=-1, reduction="sum"):
    return adaptive_lambda(g, lambda_0, alpha) * energy(h, M_scale, eps, axis, reduction)


def cosmoreg_loss_grad(
    h, g, M_scale=1.0, lambda_0=0.01, alpha=0.05, eps=1e-8, axis=-1, reduction="sum"
):
    return adaptive_lambda(g, lambda_0, alpha) * energy_grad(h, M_scale, eps, axis, reduction)
