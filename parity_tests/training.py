"""Training parity: the same models, weights and batches trained in Flax NNX and in PyTorch.

Weights are generated once in NumPy (in Flax's layout: Dense kernels (in, out), Conv kernels
(kh, kw, in, out)) and loaded into both frameworks. The CNN runs NCHW in PyTorch and NHWC in
Flax, tapped after its last conv block with the channel axis reduced (torch ``dim=1`` ↔ JAX
``axis=-1``). Each step records the parameters, task loss, energy, λ_t and ‖∇L_task‖².
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx
from torch import nn

import cosmoreg_jax
import cosmoreg_jax.flax
import cosmoreg_torch

ARCHS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "adam")
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-2}
# α is large enough here that λ_t moves visibly over training (published α = 0.05).
CONFIG = {"M_scale": 2.0, "lambda_0": 0.05, "alpha": 0.5, "batch": 16, "classes": 10}
_HIGHEST = jax.lax.Precision.HIGHEST
TOLERANCES = {"float64": 1e-10, "float32": 1e-4}  # max relative difference, torch vs JAX
QUANTITIES = ("params", "task_loss", "energy", "lambda_t", "task_grad_norm_sq")


def init_weights(arch: str, seed: int = 0) -> dict[str, np.ndarray]:
    """float64 weights in Flax layout, named ``layer/kernel`` and ``layer/bias``."""
    rng = np.random.default_rng(seed)
    if arch == "mlp":
        shapes = {"fc1": (64, 32), "fc2": (32, 32), "head": (32, 10)}
    else:
        shapes = {"conv1": (3, 3, 1, 4), "conv2": (3, 3, 4, 6), "head": (6, 10)}
    weights = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[:-1]))
        weights[f"{name}/kernel"] = rng.standard_normal(shape) / np.sqrt(fan_in)
        weights[f"{name}/bias"] = 0.1 * rng.standard_normal(shape[-1])
    return weights


def batches(arch: str, steps: int, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(inputs, labels) per step; CNN inputs are NHWC (B, 8, 8, 1)."""
    rng = np.random.default_rng(seed)
    shape = (CONFIG["batch"], 64) if arch == "mlp" else (CONFIG["batch"], 8, 8, 1)
    return [
        (rng.standard_normal(shape), rng.integers(0, CONFIG["classes"], CONFIG["batch"]))
        for _ in range(steps)
    ]


# --- Flax NNX -------------------------------------------------------------------------------


def _nnx_layer_options(dtype, rngs: nnx.Rngs) -> dict:
    # Weights are loaded from NumPy afterwards: zero init skips compiling a random initializer.
    zeros = nnx.initializers.zeros
    return {
        "dtype": dtype,
        "param_dtype": dtype,
        "precision": _HIGHEST,
        "kernel_init": zeros,
        "bias_init": zeros,
        "rngs": rngs,
    }


class NNXMLP(nnx.Module):
    def __init__(self, dtype, rngs: nnx.Rngs):
        kw = _nnx_layer_options(dtype, rngs)
        self.fc1 = nnx.Linear(64, 32, **kw)
        self.fc2 = nnx.Linear(32, 32, **kw)
        self.head = nnx.Linear(32, 10, **kw)

    def __call__(self, x):
        h = cosmoreg_jax.flax.tap(self, jnp.tanh(self.fc2(jnp.tanh(self.fc1(x)))))
        return self.head(h)


class NNXCNN(nnx.Module):
    def __init__(self, dtype, rngs: nnx.Rngs):
        kw = _nnx_layer_options(dtype, rngs)
        self.conv1 = nnx.Conv(1, 4, (3, 3), padding="SAME", **kw)
        self.conv2 = nnx.Conv(4, 6, (3, 3), padding="SAME", **kw)
        self.head = nnx.Linear(6, 10, **kw)

    def __call__(self, x):
        h = cosmoreg_jax.flax.tap(self, jnp.tanh(self.conv2(jnp.tanh(self.conv1(x)))))
        return self.head(h.mean(axis=(1, 2)))


def make_nnx(arch: str, weights: dict[str, np.ndarray], dtype) -> nnx.Module:
    model = (NNXMLP if arch == "mlp" else NNXCNN)(dtype, nnx.Rngs(0))
    for name, value in weights.items():
        layer, kind = name.split("/")
        getattr(getattr(model, layer), kind)[...] = jnp.asarray(value, dtype)
    return model


def nnx_weights(model: nnx.Module) -> dict[str, np.ndarray]:
    state = nnx.state(model, nnx.Param)
    flat = {"/".join(map(str, path)): leaf for path, leaf in nnx.to_flat_state(state)}
    return {k: np.asarray(v[...], np.float64) for k, v in flat.items()}


# --- PyTorch --------------------------------------------------------------------------------


class TorchMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(64, 32), nn.Linear(32, 32), nn.Linear(32, 10)
        self.hidden = nn.Tanh()  # the tapped activation

    def forward(self, x):
        return self.head(self.hidden(self.fc2(torch.tanh(self.fc1(x)))))


class TorchCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.hidden = nn.Tanh()
        self.head = nn.Linear(6, 10)

    def forward(self, x):  # x: NCHW
        h = self.hidden(self.conv2(torch.tanh(self.conv1(x))))
        return self.head(h.mean(dim=(2, 3)))


def _to_torch_layout(name: str, value: np.ndarray) -> np.ndarray:
    if name.endswith("kernel"):
        return value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
    return value


def make_torch(arch: str, weights: dict[str, np.ndarray], dtype: torch.dtype) -> nn.Module:
    model = (TorchMLP if arch == "mlp" else TorchCNN)().to(dtype)
    with torch.no_grad():
        for name, value in weights.items():
            layer, kind = name.split("/")
            target = getattr(getattr(model, layer), "weight" if kind == "kernel" else "bias")
            target.copy_(torch.from_numpy(np.ascontiguousarray(_to_torch_layout(name, value))))
    return model


def torch_weights(model: nn.Module) -> dict[str, np.ndarray]:
    out = {}
    for name, p in model.named_parameters():
        layer, kind = name.split(".")
        value = p.detach().to(torch.float64).numpy().copy()  # .to() is a no-op for float64
        if kind == "weight":
            value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
        out[f"{layer}/{'kernel' if kind == 'weight' else 'bias'}"] = value
    return out


# --- Trajectories ---------------------------------------------------------------------------


@dataclass
class Trajectory:
    params: list[dict[str, np.ndarray]] = field(default_factory=list)
    task_loss: list[float] = field(default_factory=list)
    energy: list[float] = field(default_factory=list)
    lambda_t: list[float] = field(default_factory=list)
    task_grad_norm_sq: list[float] = field(default_factory=list)


def run_jax(arch: str, optimizer: str, dtype: str, steps: int = 50, refresh_every: int = 1):
    dtype = jnp.dtype(dtype)
    model = make_nnx(arch, init_weights(arch), dtype)
    graphdef, params = nnx.split(model, nnx.Param)
    opt = optax.sgd if optimizer == "sgd" else optax.adam
    tx = optax.chain(
        cosmoreg_jax.cosmoreg(CONFIG["lambda_0"], CONFIG["alpha"], refresh_every=refresh_every),
        opt(LEARNING_RATES[optimizer]),
    )
    opt_state = tx.init(params)

    def losses(params, x, y):
        logits, taps = nnx.capture(nnx.merge(graphdef, params), nnx.Intermediate)(x)
        task = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return task, cosmoreg_jax.energy(cosmoreg_jax.flax.collect(taps), CONFIG["M_scale"])

    @jax.jit
    def step(params, opt_state, x, y):
        if refresh_every == 1:
            grad_fn = cosmoreg_jax.value_and_split_grad(losses)
            (task, energy), (grads, reg_grads) = grad_fn(params, x, y)
        else:  # amortized: lax.cond between the split step and one backward of L + λ·S
            (task, energy), (grads, reg_grads) = cosmoreg_jax.cosmoreg_step_grads(
                losses, opt_state, params, x, y, refresh_every=refresh_every
            )
        updates, opt_state = tx.update(grads, opt_state, params, reg_grads=reg_grads)
        return optax.apply_updates(params, updates), opt_state, task, energy

    traj = Trajectory()
    for x, y in batches(arch, steps):
        params, opt_state, task, energy = step(params, opt_state, jnp.asarray(x, dtype), y)
        traj.params.append(nnx_weights(nnx.merge(graphdef, params)))
        traj.task_loss.append(float(task))
        traj.energy.append(float(energy))
        traj.lambda_t.append(float(optax.tree.get(opt_state, "lambda_t")))
        traj.task_grad_norm_sq.append(float(optax.tree.get(opt_state, "task_grad_norm_sq")))
    return traj


def run_torch(arch: str, optimizer: str, dtype: str, steps: int = 50, refresh_every: int = 1):
    dtype = getattr(torch, dtype)
    model = make_torch(arch, init_weights(arch), dtype)
    opt_cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=LEARNING_RATES[optimizer])
    reg = cosmoreg_torch.CosmoReg(
        model.parameters(), CONFIG["lambda_0"], CONFIG["alpha"], refresh_every=refresh_every
    )
    dim = -1 if arch == "mlp" else 1
    traj = Trajectory()
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        for x, y in batches(arch, steps):
            x = torch.from_numpy(x if arch == "mlp" else x.transpose(0, 3, 1, 2)).to(dtype)
            opt.zero_grad()
            task = nn.functional.cross_entropy(model(x), torch.from_numpy(y))
            energy = tap.energy(M_scale=CONFIG["M_scale"], dim=dim)
            reg.backward(task, energy)
            opt.step()
            traj.params.append(torch_weights(model))
            traj.task_loss.append(task.item())
            traj.energy.append(energy.item())
            traj.lambda_t.append(reg.lambda_t.item())
            traj.task_grad_norm_sq.append(reg.task_grad_norm_sq.item())
    return traj


def max_relative_differences(a: Trajectory, b: Trajectory) -> dict[str, float]:
    """Worst relative difference over all steps, per quantity (parameters: per tensor, ∞-norm)."""

    def rel(x, y):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), np.finfo(np.float64).tiny))

    out = {
        "params": max(
            rel(pa[k], pb[k]) for pa, pb in zip(a.params, b.params, strict=True) for k in pb
        )
    }
    for name in ("task_loss", "energy", "lambda_t", "task_grad_norm_sq"):
        out[name] = max(rel(x, y) for x, y in zip(getattr(a, name), getattr(b, name), strict=True))
    return out
