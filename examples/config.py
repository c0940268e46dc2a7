"""What the Flax and PyTorch examples share besides the data: the run configuration, its
command line, and the framework-free training history.

A run trains one model per seed with Adam and one of three regularizers:

* ``"cosmoreg"``: the update direction ∇L_task + λ_t·∇S, with S the CosmoReg energy of the tapped
  activations and λ_t = Λ0·exp(−min(α·‖∇L_task‖², 70));
* ``"l2"``: L2 weight decay as ``torch.optim.Adam(weight_decay=λ)`` applies it, coupled: each
  gradient gets +λ·θ (the gradient of (λ/2)·Σθ² added to the loss), on every parameter;
* ``"none"``: plain Adam.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["REGULARIZERS", "History", "RunConfig", "parse_args", "write_json"]

REGULARIZERS = ("cosmoreg", "l2", "none")


@dataclass(frozen=True)
class RunConfig:
    """Hyper-parameters of one training run (the published CosmoReg defaults, Adam 1e-3)."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    hidden: int = 128
    reg: str = "cosmoreg"
    M_scale: float = 1.0
    lambda_0: float = 0.01
    alpha: float = 0.05
    weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        if self.reg not in REGULARIZERS:
            raise ValueError(f"reg must be one of {REGULARIZERS}, got reg={self.reg!r}")

    @property
    def label(self) -> str:
        """A short name of the regularizer and its hyper-parameters, for tables and legends."""
        if self.reg == "cosmoreg":
            return f"CosmoReg(Λ0={self.lambda_0:g}, α={self.alpha:g}, M={self.M_scale:g})"
        if self.reg == "l2":
            return f"L2(λ={self.weight_decay:g})"
        return "none"


@dataclass
class History:
    """What a run records, as NumPy arrays with a leading axis over seeds.

    Per step: ``task_loss``, ``energy`` (S of the tapped activations, logged for every
    regularizer), ``lambda_t`` (0 unless CosmoReg) and ``task_grad_norm_sq`` (‖∇L_task‖², the g
    that sets λ_t). Per epoch: ``val_loss``, ``val_acc``. After training: ``test_loss``,
    ``test_acc``, ``test_norms`` (‖h_i‖ of every tapped activation vector on the test set) and
    ``weights`` (one dict per seed in the Flax layout, Dense kernels (in, out)).
    """

    task_loss: np.ndarray
    energy: np.ndarray
    lambda_t: np.ndarray
    task_grad_norm_sq: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    test_norms: np.ndarray
    weights: list[dict[str, np.ndarray]]

    def epoch_means(self, name: str) -> np.ndarray:
        """A per-step quantity averaged within each epoch: shape (seeds, epochs)."""
        per_step = getattr(self, name)
        epochs = self.val_loss.shape[1]
        return per_step.reshape(per_step.shape[0], epochs, -1).mean(axis=-1)

    def summary(self, seed_index: int = 0) -> dict[str, Any]:
        """One seed's run as plain Python numbers: per-epoch logs, per-step λ_t and g, test."""
        last_lambda = self.lambda_t.reshape(*self.val_loss.shape, -1)[:, :, -1]
        epochs = [
            {
                "epoch": epoch + 1,
                "task_loss": float(self.epoch_means("task_loss")[seed_index, epoch]),
                "energy": float(self.epoch_means("energy")[seed_index, epoch]),
                "lambda_t": float(last_lambda[seed_index, epoch]),
                "val_loss": float(self.val_loss[seed_index, epoch]),
                "val_acc": float(self.val_acc[seed_index, epoch]),
            }
            for epoch in range(self.val_loss.shape[1])
        ]
        return {
            "epochs": epochs,
            "lambda_t": self.lambda_t[seed_index].tolist(),
            "task_grad_norm_sq": self.task_grad_norm_sq[seed_index].tolist(),
            "test_loss": float(self.test_loss[seed_index]),
            "test_acc": float(self.test_acc[seed_index]),
        }


def parse_args(argv: Sequence[str] | None, description: str) -> tuple[RunConfig, int, Path]:
    """The command line of ``flax_train.py`` and ``torch_train.py``: (config, seed, out_dir)."""
    defaults = RunConfig()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reg", choices=REGULARIZERS, default=defaults.reg)
    parser.add_argument("--M-scale", type=float, default=defaults.M_scale)
    parser.add_argument("--lambda-0", type=float, default=defaults.lambda_0)
    parser.add_argument("--alpha", type=float, default=defaults.alpha)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--out-dir", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    config = dataclasses.replace(
        defaults,
        epochs=args.epochs,
        reg=args.reg,
        M_scale=args.M_scale,
        lambda_0=args.lambda_0,
        alpha=args.alpha,
        weight_decay=args.weight_decay,
    )
    return config, args.seed, args.out_dir


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the parent folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
