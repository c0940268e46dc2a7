"""Argument checks shared by the public functions (framework-free: the same file in both backends).

Only concrete Python/NumPy numbers are checked: arrays and tensors (possibly traced, possibly on an
accelerator) pass through untouched, since inspecting their values would force a host sync.
"""

from __future__ import annotations

import math
import numbers

REDUCTIONS = ("sum", "mean")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def hyperparameters(M_scale: object, lambda_0: object, alpha: object, eps: object) -> None:
    """Raise ``ValueError`` naming the first argument that is out of its domain."""
    if _is_number(M_scale) and not (math.isfinite(M_scale) and M_scale > 0):
        raise ValueError(f"M_scale must be finite and > 0, got M_scale={M_scale!r}")
    if _is_number(lambda_0) and not (math.isfinite(lambda_0) and lambda_0 >= 0):
        raise ValueError(f"lambda_0 must be finite and >= 0, got lambda_0={lambda_0!r}")
    if _is_number(alpha) and not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be finite and >= 0, got alpha={alpha!r}")
    if _is_number(eps) and not eps > 0:
        raise ValueError(f"eps must be > 0, got eps={eps!r}")


def shape_parameters(M_scale: object, eps: object) -> None:
    hyperparameters(M_scale, 0.0, 0.0, eps)


def reduction(value: object) -> None:
    if value not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got reduction={value!r}")


def task_grad_norm_sq(value: object) -> None:
    """A Python-number ``g`` must be a non-negative number (NaN is rejected, +inf is allowed)."""
    if _is_number(value) and not value >= 0:
        raise ValueError(
            "task_grad_norm_sq must be >= 0 (it is a squared norm), "
            f"got task_grad_norm_sq={value!r}"
        )


def reduction_axes(axes: int | tuple[int, ...], ndim: int, name: str) -> tuple[int, ...]:
    """Normalise ``axes`` against an array of rank ``ndim``; raise if any is out of range."""
    if ndim == 0:
        raise ValueError("activations must have at least one dimension, got a 0-dim array")
    as_tuple = (axes,) if isinstance(axes, int) else tuple(axes)
    if not as_tuple:
        raise ValueError(f"{name} must name at least one axis, got {name}={axes!r}")
    for axis in as_tuple:
        if not isinstance(axis, int) or not -ndim <= axis < ndim:
            raise ValueError(
                f"{name}={axes!r} is out of range for activations with {ndim} dimension(s)"
            )
    normalised = tuple(axis % ndim for axis in as_tuple)
    if len(set(normalised)) != len(normalised):
        raise ValueError(f"{name}={axes!r} names the same axis twice")
    return normalised
