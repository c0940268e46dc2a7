"""The figures of ``full_demo.py`` and ``evidence.py`` (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from config import History

from cosmoreg_jax.theory import barrier_radius, stable_radius

__all__ = ["ConfinementPanel", "plot_confinement", "plot_curves", "plot_lambda_dynamics"]


@dataclass(frozen=True)
class ConfinementPanel:
    """One histogram: per-sample norms ‖h_i‖ by regularizer, for a CosmoReg run at ``M_scale``."""

    title: str
    M_scale: float
    norms: Mapping[str, np.ndarray]


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confinement(panels: Sequence[ConfinementPanel], path: Path) -> Path:
    """Histograms of ‖h_i‖ (log-spaced bins), with r_s and r_b where M > √2, else a note."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        values = np.concatenate([np.ravel(v) for v in panel.norms.values()])
        low = max(float(np.percentile(values, 0.5)), 1e-3)
        bins = np.geomspace(low, float(values.max()) * 1.05 + 1e-3, 60)
        for label, norms in panel.norms.items():
            ax.hist(np.ravel(norms), bins=bins, alpha=0.55, label=label, density=True)
        if panel.M_scale > math.sqrt(2):
            r_s, r_b = stable_radius(panel.M_scale), barrier_radius(panel.M_scale)
            ax.axvline(r_s, color="k", ls="--", label=f"stable radius r_s = {r_s:.3g}")
            ax.axvline(r_b, color="grey", ls=":", label=f"barrier r_b = {r_b:.3g}")
        else:
            ax.text(
                0.02,
                0.97,
                f"M = {panel.M_scale:g} ≤ √2: φ increases monotonically,\n"
                "no stable radius (CosmoReg only pulls norms down)",
                transform=ax.transAxes,
                va="top",
                fontsize=9,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "grey"},
            )
        ax.set_xscale("log")
        ax.set(title=panel.title, xlabel="‖h_i‖ (test set, tapped layer)", ylabel="density")
        ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def plot_lambda_dynamics(
    lambda_t: np.ndarray,
    task_grad_norm_sq: np.ndarray,
    lambda_0: float,
    alpha: float,
    path: Path,
    labels: Sequence[str] | None = None,
) -> Path:
    """λ_t against the step (one line per run, rows of the arrays) and against ‖∇L_task‖², with
    the curve Λ0·exp(−min(α·g, 70))."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    labels = labels or [f"seed {seed}" for seed in range(len(lambda_t))]
    for label, lam in zip(labels, lambda_t, strict=True):
        left.plot(lam, lw=0.8, label=label)
    left.axhline(lambda_0, color="k", ls="--", lw=0.8, label="Λ0")
    left.set(xlabel="training step", ylabel="λ_t", title="λ_t during training")
    left.legend(fontsize=8)

    g = np.ravel(task_grad_norm_sq)
    steps = np.tile(np.arange(lambda_t.shape[1]), lambda_t.shape[0])
    points = right.scatter(g, np.ravel(lambda_t), c=steps, s=4, cmap="viridis")
    grid = np.linspace(0.0, float(g.max()), 200)
    right.plot(grid, lambda_0 * np.exp(-np.minimum(alpha * grid, 70.0)), "k--", lw=0.8)
    right.set(xlabel="‖∇θ L_task‖² (g)", ylabel="λ_t", title="λ_t = Λ0·exp(−min(α·g, 70)) (dashed)")
    fig.colorbar(points, ax=right, label="step")
    return _save(fig, path)


def plot_curves(histories: Mapping[str, History], path: Path, title: str = "") -> Path:
    """Validation loss and accuracy against the epoch: mean over seeds ± one std as a band."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for label, history in histories.items():
        for ax, values in zip(axes, (history.val_loss, history.val_acc), strict=True):
            epochs = np.arange(1, values.shape[1] + 1)
            mean, std = values.mean(axis=0), values.std(axis=0, ddof=1 if len(values) > 1 else 0)
            (line,) = ax.plot(epochs, mean, label=f"{label} (n={len(values)})")
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    axes[0].set(xlabel="epoch", ylabel="validation loss", yscale="log")
    axes[1].set(xlabel="epoch", ylabel="validation accuracy")
    axes[1].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
