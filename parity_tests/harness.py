"""Evaluate one parity case in torch, JAX and the oracle, and measure the differences.

Errors are relative, as the parity contract states:
* summed quantities (energy, loss) relative to Σ_i |φ(s_i)| (times λ for the loss), so that
  cancellation between the entropy and confinement terms is not counted against a backend;
* λ_t relative to itself;
* gradients elementwise, relative to the size of the terms that make up ∂S/∂h
  (``oracle.energy_grad_scale``), since φ'(s) cancels to zero at the barrier and stable radius.
Differences below the dtype's smallest normal number are not counted in any quantity (no dtype
carries full precision there, and XLA on CPU flushes such subnormal values to zero).
Inputs are rounded to the dtype under test first, and the oracle sees the rounded values.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import torch

import cosmoreg_jax
import cosmoreg_torch
from parity_tests import oracle

DTYPES = ("float64", "float32", "float16", "bfloat16")
TOLERANCES = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-5, "bfloat16": 1e-5}
_NUMPY = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
_NUMPY["bfloat16"] = ml_dtypes.bfloat16
_TORCH = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


@dataclass(frozen=True)
class Row:
    case: str
    dtype: str
    quantity: str
    pair: str
    max_abs: float
    max_rel: float
    tol: float

    @property
    def ok(self) -> bool:
        return bool(self.max_rel <= self.tol)


def gradient_tolerance(dtype: str) -> float:
    """Half-precision gradients come back rounded to the input dtype: one rounding of slack."""
    return (
        TOLERANCES[dtype]
        if dtype in ("float64", "float32")
        else float(ml_dtypes.finfo(_NUMPY[dtype]).eps)
    )


def _rel(a: np.ndarray, b: np.ndarray, scale: np.ndarray | float) -> tuple[float, float]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(a == b, 0.0, np.abs(a - b))  # equal infinities are no difference
        scale = np.broadcast_to(np.asarray(scale, np.float64), diff.shape)
        rel = np.where(diff == 0, 0.0, diff / scale)
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0))


def run_torch(meta: dict, h: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    dim = 1 if meta["layout"] == "NCHW" else -1
    h_t = torch.tensor(h.astype(np.float64)).to(_TORCH[dtype]).requires_grad_(True)
    kw = {"M_scale": meta["M_scale"], "dim": dim, "reduction": meta["reduction"]}
    total = cosmoreg_torch.energy(h_t, **kw)
    lam = cosmoreg_torch.adaptive_lambda(
        meta["g"], meta["lambda_0"], meta["alpha"], dtype=total.dtype
    )
    loss = cosmoreg_torch.cosmoreg_loss(
        h_t, meta["g"], lambda_0=meta["lambda_0"], alpha=meta["alpha"], **kw
    )
    loss.backward()
    return {
        "energy": total.detach().numpy(),
        "lambda": lam.numpy(),
        "loss": loss.detach().numpy(),
        "grad": h_t.grad.to(torch.float64).numpy(),
        "result_dtype": str(loss.dtype).removeprefix("torch."),
    }


def run_jax(meta: dict, h: np.ndarray, dtype: str) -> dict[str, np.ndarray]:
    nchw = meta["layout"] == "NCHW"
    h_j = jnp.asarray(h.transpose(0, 2, 3, 1) if nchw else h, dtype=_NUMPY[dtype])
    kw = {"M_scale": meta["M_scale"], "axis": -1, "reduction": meta["reduction"]}

    def loss_fn(x):
        return cosmoreg_jax.cosmoreg_loss(
            x, meta["g"], lambda_0=meta["lambda_0"], alpha=meta["alpha"], **kw
        )

    total = cosmoreg_jax.energy(h_j, **kw)
    lam = cosmoreg_jax.adaptive_lambda(
        meta["g"], meta["lambda_0"], meta["alpha"], dtype=total.dtype
    )
    loss, grad = jax.value_and_grad(loss_fn)(h_j)
    grad = np.asarray(grad.astype(jnp.float64))
    return {
        "energy": np.asarray(total),
        "lambda": np.asarray(lam),
        "loss": np.asarray(loss),
        "grad": grad.transpose(0, 3, 1, 2) if nchw else grad,
        "result_dtype": str(loss.dtype),
    }


def run_oracle(meta: dict, h: np.ndarray) -> dict[str, np.ndarray]:
    kw = {
        "M_scale": meta["M_scale"],
        "axis": 1 if meta["layout"] == "NCHW" else -1,
        "reduction": meta["reduction"],
    }
    lam = oracle.adaptive_lambda(meta["g"], meta["lambda_0"], meta["alpha"])
    return {
        "energy": oracle.energy(h, **kw),
        "lambda": lam,
        "loss": lam * oracle.energy(h, **kw),
        "grad": lam * oracle.energy_grad(h, **kw),
        "energy_scale": oracle.energy_abs(h, **kw),
        "grad_scale": lam * oracle.energy_grad_scale(h, **kw),
    }


def evaluate(meta: dict, h: np.ndarray, dtype: str) -> list[Row]:
    """All rows (quantity × backend pair) for one case at one dtype."""
    rounded = h.astype(_NUMPY[dtype]).astype(np.float64)
    ref = run_oracle(meta, rounded)
    results = {"torch": run_torch(meta, rounded, dtype), "jax": run_jax(meta, rounded, dtype)}
    expected_dtype = "float64" if dtype == "float64" else "float32"
    for name, res in results.items():
        if res["result_dtype"] != expected_dtype:
            raise AssertionError(
                f"{name} returned {res['result_dtype']} for {dtype} inputs, "
                f"expected {expected_dtype}"
            )
    scales = {
        "energy": ref["energy_scale"],
        "lambda": abs(ref["lambda"]),
        "loss": ref["lambda"] * ref["energy_scale"],
        "grad": ref["grad_scale"],
    }
    if dtype not in ("float64", "float32"):
        # The gradient is returned in the input's half dtype: compare with the oracle's rounded.
        with np.errstate(over="ignore"):  # overflow to ±inf is what the backends return too
            ref["grad"] = np.asarray(ref["grad"]).astype(_NUMPY[dtype]).astype(np.float64)
    # Below the smallest normal number a dtype has no full precision (and XLA on CPU flushes
    # subnormals to zero), so differences that small are not counted.
    floor = float(ml_dtypes.finfo(_NUMPY[dtype]).smallest_normal)
    rows = []
    pairs = {
        "torch-oracle": (results["torch"], ref),
        "jax-oracle": (results["jax"], ref),
        "torch-jax": (results["torch"], results["jax"]),
    }
    for quantity, scale in scales.items():
        tol = gradient_tolerance(dtype) if quantity == "grad" else TOLERANCES[dtype]
        scale = np.maximum(scale, floor / tol)
        for pair, (a, b) in pairs.items():
            max_abs, max_rel = _rel(a[quantity], b[quantity], scale)
            rows.append(Row(meta["name"], dtype, quantity, pair, max_abs, max_rel, tol))
    return rows
