"""The CosmoReg math in JAX (the twin of ``cosmoreg_torch.functional``).

For activations h and a reduction axis (default the last one):

    s_i   = Σ_j h_ij²                              per-vector squared norm
    φ(s)  = −(s+ε)·ln(s+ε) + s²/M²                 potential, M = M_scale
    S     = Σ_i φ(s_i)   (or the mean over i)      energy
    λ_t   = Λ0 · exp(−min(α·g, 70))                adaptive weight, g = ‖∇θ L_task‖²
    loss  = λ_t · S                                λ_t is wrapped in stop_gradient

float16/bfloat16 activations are computed in float32; float32 and float64 stay as they are.
Every function is pure and works under ``jit``, ``grad`` and ``vmap``.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

from cosmoreg_jax import _validation as check

__all__ = ["adaptive_lambda", "cosmoreg_loss", "energy", "potential"]

Activations = Any  # any pytree of arrays
Scalar = float | jax.Array


def compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    """The dtype CosmoReg computes in for inputs of ``dtype`` (half precision is upcast)."""
    dtype = jnp.dtype(dtype)
    return jnp.dtype(jnp.float32) if dtype in (jnp.float16, jnp.bfloat16) else dtype


def as_leaves(activations: Activations) -> list[jax.Array]:
    """The arrays of a pytree of activations, checked."""
    leaves = [jnp.asarray(h) for h in jax.tree.leaves(activations)]
    if not leaves:
        raise ValueError("activations must hold at least one array, got an empty pytree")
    for h in leaves:
        if not jnp.issubdtype(h.dtype, jnp.floating):
            raise TypeError(f"activations must be floating point, got dtype={h.dtype}")
        if h.size == 0:
            raise ValueError(f"activations must not be empty, got shape {tuple(h.shape)}")
    return leaves


def potential(r_sq: jax.Array, M_scale: Scalar = 1.0, eps: Scalar = 1e-8) -> jax.Array:
    """φ(s) = −(s+ε)·ln(s+ε) + s²/M², elementwise over squared norms ``r_sq``.

    Its derivative is the closed form φ'(s) = −ln(s+ε) − 1 + 2s/M² (a ``custom_jvp``): one
    logarithm, and no product of the upstream gradient with s that could underflow when λ_t is
    tiny (λ_t reaches Λ0·e⁻⁷⁰ at the clamp).
    """
    check.shape_parameters(M_scale, eps)
    r_sq = jnp.asarray(r_sq)
    return _potential(r_sq.astype(compute_dtype(r_sq.dtype)), M_scale, eps)


@jax.custom_jvp
def _potential(r_sq: jax.Array, M_scale: Scalar, eps: Scalar) -> jax.Array:
    shifted = r_sq + eps
    return -shifted * jnp.log(shifted) + r_sq * r_sq / (M_scale * M_scale)


@_potential.defjvp
def _potential_jvp(primals, tangents):
    r_sq, M_scale, eps = primals
    r_sq_dot, M_scale_dot, eps_dot = tangents
    shifted = r_sq + eps
    log_shifted = jnp.log(shifted)
    confinement = r_sq * r_sq / (M_scale * M_scale)
    value = -shifted * log_shifted + confinement
    dphi_ds = -log_shifted - 1.0 + 2.0 * r_sq / (M_scale * M_scale)
    dphi_dM = -2.0 * confinement / M_scale
    dphi_deps = -log_shifted - 1.0
    return value, dphi_ds * r_sq_dot + dphi_dM * M_scale_dot + dphi_deps * eps_dot


def energy(
    activations: Activations,
    M_scale: Scalar = 1.0,
    eps: float = 1e-8,
    axis: int | tuple[int, ...] = -1,
    reduction: str = "sum",
) -> jax.Array:
    """S = Σ_i φ(‖h_i‖²), with ‖h_i‖² summed over ``axis`` and i running over all other axes.

    ``reduction="mean"`` averages over i instead of summing. Any pytree of arrays (several tapped
    layers) gives the sum of the leaves' energies, each reduced on its own.
    """
    check.shape_parameters(M_scale, eps)
    check.reduction(reduction)
    leaves = as_leaves(activations)
    axes = [check.reduction_axes(axis, h.ndim, "axis") for h in leaves]
    energies = [
        _energy_of(h, a, M_scale, eps, reduction) for h, a in zip(leaves, axes, strict=True)
    ]
    return functools.reduce(operator.add, energies)


def _energy_of(
    h: jax.Array, axes: tuple[int, ...], M_scale: Scalar, eps: float, reduction: str
) -> jax.Array:
    h = h.astype(compute_dtype(h.dtype))
    phi = potential(jnp.square(h).sum(axis=axes), M_scale, eps)
    return phi.sum() if reduction == "sum" else phi.mean()


def adaptive_lambda(
    task_grad_norm_sq: Scalar,
    lambda_0: Scalar = 0.01,
    alpha: Scalar = 0.05,
    *,
    max_exponent: float = 70.0,
    dtype: jnp.dtype | None = None,
) -> jax.Array:
    """λ_t = Λ0 · exp(−min(α·g, max_exponent)), wrapped in ``stop_gradient``.

    ``g`` is a Python number or a scalar array. λ_t is computed in ``dtype`` if given, else in
    ``g``'s (upcast) dtype, else the default float dtype.
    """
    check.hyperparameters(1.0, lambda_0, alpha, 1.0)
    check.task_grad_norm_sq(task_grad_norm_sq)
    g = jnp.asarray(task_grad_norm_sq)
    if g.ndim != 0:
        raise ValueError(
            "task_grad_norm_sq must be a Python number or a scalar array, got an array of "
            f"shape {g.shape}"
        )
    if dtype is None:
        is_float = jnp.issubdtype(g.dtype, jnp.floating)
        dtype = compute_dtype(g.dtype) if is_float else jnp.result_type(float)
    g = jax.lax.stop_gradient(g.astype(dtype))
    return jax.lax.stop_gradient(lambda_0 * jnp.exp(-jnp.minimum(alpha * g, max_exponent)))


def cosmoreg_loss(
    activations: Activations,
    task_grad_norm_sq: Scalar,
    M_scale: Scalar = 1.0,
    lambda_0: Scalar = 0.01,
    alpha: Scalar = 0.05,
    eps: float = 1e-8,
    axis: int | tuple[int, ...] = -1,
    reduction: str = "sum",
) -> jax.Array:
    """λ_t · S, with λ_t from ``task_grad_norm_sq`` computed in the energy's dtype."""
    check.hyperparameters(M_scale, lambda_0, alpha, eps)
    total = energy(activations, M_scale, eps, axis, reduction)
    lam = adaptive_lambda(task_grad_norm_sq, lambda_0, alpha, dtype=total.dtype)
    return lam * total
