"""The CosmoReg math in PyTorch (the twin of ``cosmoreg_jax.functional``).

For activations h and a reduction axis (default the last one):

    s_i   = Σ_j h_ij²                              per-vector squared norm
    φ(s)  = −(s+ε)·ln(s+ε) + s²/M²                 potential, M = M_scale
    S     = Σ_i φ(s_i)   (or the mean over i)      energy
    λ_t   = Λ0 · exp(−min(α·g, 70))                adaptive weight, g = ‖∇θ L_task‖²
    loss  = λ_t · S                                λ_t carries no gradient

float16/bfloat16 activations are computed in float32; float32 and float64 stay as they are.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from cosmoreg_torch import _validation as check

__all__ = ["adaptive_lambda", "cosmoreg_loss", "energy", "potential"]

Activations = Tensor | Sequence[Tensor] | Mapping[str, Tensor]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype CosmoReg computes in for inputs of ``dtype`` (half precision is upcast)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def as_leaves(activations: Activations) -> list[Tensor]:
    """The tensors of a tensor, a list/tuple of tensors or a dict of tensors, checked."""
    if isinstance(activations, Mapping):
        leaves = list(activations.values())
    elif isinstance(activations, (list, tuple)):
        leaves = list(activations)
    else:
        leaves = [activations]
    if not leaves:
        raise ValueError("activations must hold at least one tensor, got an empty container")
    for h in leaves:
        if not isinstance(h, Tensor):
            raise TypeError(f"activations must be tensors, got {type(h).__name__}")
        if not h.is_floating_point():
            raise TypeError(f"activations must be floating point, got dtype={h.dtype}")
        if h.numel() == 0:
            raise ValueError(f"activations must not be empty, got shape {tuple(h.shape)}")
    return leaves


def potential(r_sq: Tensor, M_scale: float = 1.0, eps: float = 1e-8) -> Tensor:
    """φ(s) = −(s+ε)·ln(s+ε) + s²/M², elementwise over squared norms ``r_sq``.

    Its derivative is the closed form φ'(s) = −ln(s+ε) − 1 + 2s/M² (an ``autograd.Function``):
    one logarithm, and no product of the upstream gradient with s that could underflow when λ_t
    is tiny (λ_t reaches Λ0·e⁻⁷⁰ at the clamp).
    """
    check.shape_parameters(M_scale, eps)
    return _Potential.apply(r_sq.to(compute_dtype(r_sq.dtype)), M_scale, eps)


class _Potential(torch.autograd.Function):
    @staticmethod
    def forward(r_sq: Tensor, M_scale: float, eps: float) -> Tensor:
        shifted = r_sq + eps
        return -shifted * torch.log(shifted) + r_sq * r_sq / (M_scale * M_scale)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        r_sq, ctx.M_scale, ctx.eps = inputs
        ctx.save_for_backward(r_sq)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:
        (r_sq,) = ctx.saved_tensors
        M_scale, eps = ctx.M_scale, ctx.eps
        dphi_ds = -torch.log(r_sq + eps) - 1.0 + 2.0 * r_sq / (M_scale * M_scale)
        return grad * dphi_ds, None, None


def energy(
    activations: Activations,
    M_scale: float = 1.0,
    eps: float = 1e-8,
    dim: int | tuple[int, ...] = -1,
    reduction: str = "sum",
) -> Tensor:
    """S = Σ_i φ(‖h_i‖²), with ‖h_i‖² summed over ``dim`` and i running over all other axes.

    ``reduction="mean"`` averages over i instead of summing. A list/tuple/dict of tensors
    (several tapped layers) gives the sum of their energies, each reduced on its own.
    """
    check.shape_parameters(M_scale, eps)
    check.reduction(reduction)
    leaves = as_leaves(activations)
    axes = [check.reduction_axes(dim, h.dim(), "dim") for h in leaves]
    energies = [
        _energy_of(h, a, M_scale, eps, reduction) for h, a in zip(leaves, axes, strict=True)
    ]
    return functools.reduce(operator.add, energies)


def _energy_of(
    h: Tensor, axes: tuple[int, ...], M_scale: float, eps: float, reduction: str
) -> Tensor:
    h = h.to(compute_dtype(h.dtype))
    # h * h, not torch.square: square's backward (PowBackward0) makes an extra full-size copy,
    # ~25% of an energy forward+backward in eager mode. (JAX uses jnp.square: x*x's backward
    # adds two products, which XLA:CPU flushes to zero when they are subnormal.)
    phi = potential((h * h).sum(dim=axes), M_scale, eps)
    return phi.sum() if reduction == "sum" else phi.mean()


def adaptive_lambda(
    task_grad_norm_sq: float | Tensor,
    lambda_0: float = 0.01,
    alpha: float = 0.05,
    *,
    max_exponent: float = 70.0,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """λ_t = Λ0 · exp(−min(α·g, max_exponent)), detached from the graph.

    ``g`` is a Python number or a 0-dim tensor (used on its device, with no host sync). λ_t is
    computed in ``dtype`` if given, else in ``g``'s (upcast) dtype, else the default dtype.
    """
    check.hyperparameters(1.0, lambda_0, alpha, 1.0)
    check.task_grad_norm_sq(task_grad_norm_sq)
    if isinstance(task_grad_norm_sq, Tensor):
        if task_grad_norm_sq.dim() != 0:
            raise ValueError(
                "task_grad_norm_sq must be a Python number or a 0-dim tensor, got a tensor of "
                f"shape {tuple(task_grad_norm_sq.shape)}"
            )
        g_dtype = task_grad_norm_sq.dtype
        g_dtype = compute_dtype(g_dtype) if g_dtype.is_floating_point else None
        g = task_grad_norm_sq.detach().to(device=device, dtype=dtype or g_dtype)
    else:
        g = torch.tensor(float(task_grad_norm_sq), dtype=dtype, device=device)
    if not g.is_floating_point():
        g = g.to(torch.get_default_dtype())
    return lambda_0 * torch.exp(-torch.clamp(alpha * g, max=max_exponent))


def cosmoreg_loss(
    activations: Activations,
    task_grad_norm_sq: float | Tensor,
    M_scale: float = 1.0,
    lambda_0: float = 0.01,
    alpha: float = 0.05,
    eps: float = 1e-8,
    dim: int | tuple[int, ...] = -1,
    reduction: str = "sum",
) -> Tensor:
    """λ_t · S, with λ_t from ``task_grad_norm_sq`` computed in the energy's dtype."""
    check.hyperparameters(M_scale, lambda_0, alpha, eps)
    total = energy(activations, M_scale, eps, dim, reduction)
    lam = adaptive_lambda(
        task_grad_norm_sq, lambda_0, alpha, dtype=total.dtype, device=total.device
    )
    return lam * total
