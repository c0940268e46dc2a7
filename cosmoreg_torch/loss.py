"""``CosmoRegLoss``: a drop-in for the published class, a thin shell over ``functional``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cosmoreg_torch import _validation as check
from cosmoreg_torch import functional as F

__all__ = ["CosmoRegLoss"]


class CosmoRegLoss(nn.Module):
    """CosmoReg activation regularizer: ``forward(h, g)`` returns λ_t·S.

    S = Σ_i φ(‖h_i‖²) with φ(s) = −(s+ε)·ln(s+ε) + s²/M², and λ_t = Λ0·exp(−min(α·g, 70)) where
    g = ‖∇θ L_task‖² is supplied by the caller (a Python number, or a 0-dim tensor that is used
    on its device without a host sync). The last λ_t is kept in the buffer ``current_lambda``.

    Args:
        M_scale: M in φ; the confinement scale (a stable radius exists only for M > √2).
        lambda_0: Λ0, the weight once task gradients vanish.
        alpha: α, how fast large task gradients switch the regularizer off.
        eps: ε inside the logarithm.
        dim: the axis (or axes) holding one activation vector.
        reduction: ``"sum"`` (published) or ``"mean"`` over the activation vectors.
        check_finite: raise ``FloatingPointError`` on NaN/inf activations (syncs the device).
    """

    current_lambda: Tensor

    def __init__(
        self,
        M_scale: float = 1.0,
        lambda_0: float = 0.01,
        alpha: float = 0.05,
        *,
        eps: float = 1e-8,
        dim: int | tuple[int, ...] = -1,
        reduction: str = "sum",
        check_finite: bool = False,
    ) -> None:
        super().__init__()
        check.hyperparameters(M_scale, lambda_0, alpha, eps)
        check.reduction(reduction)
        self.M_scale = M_scale
        self.lambda_0 = lambda_0
        self.alpha = alpha
        self.eps = eps
        self.dim = dim
        self.reduction = reduction
        self.check_finite = check_finite
        self.register_buffer("current_lambda", torch.tensor(float(lambda_0)))

    def forward(self, activations: F.Activations, task_grad_norm_sq: float | Tensor) -> Tensor:
        if self.check_finite and not all(torch.isfinite(h).all() for h in F.as_leaves(activations)):
            raise FloatingPointError("activations contain non-finite values (NaN or inf)")
        total = F.energy(activations, self.M_scale, self.eps, self.dim, self.reduction)
        lam = F.adaptive_lambda(
            task_grad_norm_sq, self.lambda_0, self.alpha, dtype=total.dtype, device=total.device
        )
        self.current_lambda.copy_(lam)
        return lam * total

    def extra_repr(self) -> str:
        return (
            f"M_scale={self.M_scale}, lambda_0={self.lambda_0}, alpha={self.alpha}, "
            f"eps={self.eps}, dim={self.dim}, reduction={self.reduction!r}"
        )
