"""Train a PyTorch MLP on the digits with CosmoReg (``ActivationTap`` + ``CosmoReg``).

``ActivationTap`` keeps the output of the ``hidden`` submodule, ``tap.energy()`` is its energy
S, and ``CosmoReg.backward(task_loss, energy)`` fills the gradients with ∇L_task + λ_t·∇S in
place of ``loss.backward()``. The JAX twin is ``flax_train.py``: same model, data, functions
and command line (seeds train one after the other here).

    python examples/torch_train.py --epochs 30 --M-scale 2.0
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from config import History, RunConfig, parse_args, write_json
from digits import NUM_CLASSES, NUM_FEATURES, Split, load_split, seed_batches
from torch import Tensor, nn
from tqdm import tqdm

import cosmoreg_torch

__all__ = [
    "MLP",
    "evaluate",
    "forward",
    "load_weights",
    "main",
    "make_optimizer",
    "numpy_weights",
    "probe",
    "train",
]

TAPPED = ("hidden",)


class MLP(nn.Module):
    """64 → hidden (ReLU, tapped as the ``hidden`` submodule) → 10."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.fc = nn.Linear(NUM_FEATURES, hidden)
        self.hidden = nn.ReLU()
        self.head = nn.Linear(hidden, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.hidden(self.fc(x)))


def make_optimizer(
    config: RunConfig, model: nn.Module
) -> tuple[torch.optim.Optimizer, cosmoreg_torch.CosmoReg | None]:
    """Adam (with coupled L2 weight decay for ``reg="l2"``) and, for CosmoReg, its helper."""
    weight_decay = config.weight_decay if config.reg == "l2" else 0.0
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=weight_decay
    )
    if config.reg != "cosmoreg":
        return optimizer, None
    return optimizer, cosmoreg_torch.CosmoReg(model.parameters(), config.lambda_0, config.alpha)


def forward(model: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Logits and the list of tapped activations of one forward pass."""
    with cosmoreg_torch.ActivationTap(model, TAPPED) as tap:
        logits = model(x)
    return logits, [tap.activations[name] for name in TAPPED]


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean cross-entropy, accuracy, and ‖h_i‖ of every tapped activation vector."""
    logits, taps = forward(model, x)
    accuracy = (logits.argmax(dim=-1) == y).float().mean()
    norms = torch.cat([torch.linalg.vector_norm(h, dim=-1).flatten() for h in taps])
    return nn.functional.cross_entropy(logits, y), accuracy, norms


def _grad_norm_sq(model: nn.Module) -> Tensor:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return torch.square(torch.nn.utils.get_total_norm(grads))


def _train_epoch(
    model: nn.Module,
    tap: cosmoreg_torch.ActivationTap,
    optimizer: torch.optim.Optimizer,
    reg: cosmoreg_torch.CosmoReg | None,
    config: RunConfig,
    batches: list[tuple[Tensor, Tensor]],
) -> Tensor:
    """One pass over ``batches``; per step (task loss, energy, λ_t, g), shape (steps, 4)."""
    logs = []
    for x, y in batches:
        optimizer.zero_grad()
        task_loss = nn.functional.cross_entropy(model(x), y)
        energy = tap.energy(M_scale=config.M_scale)
        if reg is not None:
            reg.backward(task_loss, energy)
            lam, g = reg.lambda_t.clone(), reg.task_grad_norm_sq.clone()
        else:
            task_loss.backward()
            lam, g = torch.zeros(()), _grad_norm_sq(model)
        optimizer.step()
        logs.append(torch.stack([task_loss.detach(), energy.detach(), lam, g]))
    return torch.stack(logs)


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
    return torch.from_numpy(x), torch.from_numpy(y).long()


def _train_seed(config: RunConfig, seed: int, split: Split, log: bool) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = MLP(config.hidden)
    optimizer, reg = make_optimizer(config, model)
    x_train, y_train = _tensors(*split.subset("train"))
    x_val, y_val = _tensors(*split.subset("val"))
    orders = seed_batches(seed, config.epochs, len(y_train), config.batch_size)

    step_logs, val_logs = [], []
    bar = tqdm(orders, total=config.epochs, desc=f"torch {config.label}", disable=not log)
    with cosmoreg_torch.ActivationTap(model, TAPPED) as tap:
        for epoch, index in enumerate(bar):
            batches = [(x_train[i], y_train[i]) for i in torch.from_numpy(index)]
            step_logs.append(_train_epoch(model, tap, optimizer, reg, config, batches))
            val_logs.append(torch.stack(evaluate(model, x_val, y_val)[:2]))
            if log:
                task_loss, energy, lam, _ = step_logs[-1].mean(dim=0).tolist()
                val_loss, val_acc = val_logs[-1].tolist()
                tqdm.write(
                    f"epoch {epoch + 1:3d}  task loss {task_loss:.4f}  energy {energy:10.4g}  "
                    f"λ_t {lam:.4g}  val loss {val_loss:.4f}  val acc {val_acc:.4f}"
                )
    test_loss, test_acc, test_norms = evaluate(model, *_tensors(*split.subset("test")))
    steps = torch.cat(step_logs).T.numpy()
    return {
        "task_loss": steps[0],
        "energy": steps[1],
        "lambda_t": steps[2],
        "task_grad_norm_sq": steps[3],
        "val_loss": torch.stack(val_logs)[:, 0].numpy(),
        "val_acc": torch.stack(val_logs)[:, 1].numpy(),
        "test_loss": test_loss.numpy(),
        "test_acc": test_acc.numpy(),
        "test_norms": test_norms.numpy(),
        "weights": numpy_weights(model),
    }


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one intra-op thread: for models this small, syncing two threads costs more than
    it saves (on a loaded 2-core machine a step goes from ~2 ms to ~150 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(
    config: RunConfig, seeds: Sequence[int], split: Split | None = None, log: bool = True
) -> History:
    """Train one ``MLP`` per seed and return its history (as ``flax_train.train`` does).

    A seed fixes the initial weights (``torch.manual_seed``) and the batch order (the same order
    as in ``flax_train``). With ``log``, a progress bar and one line per epoch are printed.
    """
    split = split or load_split()
    with _one_thread():
        runs = [_train_seed(config, seed, split, log) for seed in seeds]
    fields = {name: np.stack([run[name] for run in runs]) for name in runs[0] if name != "weights"}
    return History(**fields, weights=[run["weights"] for run in runs])


def numpy_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Parameters as ``{"layer/kernel": array}`` in the Flax layout (Dense kernels (in, out))."""
    weights = {}
    for name, param in model.named_parameters():
        layer, kind = name.split(".")
        value = param.detach().numpy()
        weights[f"{layer}/{'kernel' if kind == 'weight' else 'bias'}"] = (
            value.T if kind == "weight" else value
        )
    return weights


@torch.no_grad()
def load_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> nn.Module:
    """Copy ``{"layer/kernel": array}`` weights (Flax layout) into ``model`` in place."""
    for name, value in weights.items():
        layer, kind = name.split("/")
        target = getattr(getattr(model, layer), "weight" if kind == "kernel" else "bias")
        target.copy_(torch.tensor(value.T if kind == "kernel" else value))
    return model


def probe(
    weights: dict[str, np.ndarray], config: RunConfig, x: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """The CosmoReg quantities of an ``MLP`` with ``weights`` on ``(x, y)``, in float64 NumPy.

    Returns a dict: ``activations`` (the tapped layer), ``task_grad_norm_sq`` (g), ``energy``
    (S) and ``lambda_energy`` (λ_t·S with λ_t from that g), computed with ``cosmoreg_torch``.
    """
    model = load_weights(MLP(config.hidden), weights)
    x, y = _tensors(x, y)
    logits, taps = forward(model, x)
    task_loss = nn.functional.cross_entropy(logits, y)
    grads = torch.autograd.grad(task_loss, list(model.parameters()))
    g = torch.square(torch.nn.utils.get_total_norm(grads))
    hyper = {"M_scale": config.M_scale, "lambda_0": config.lambda_0, "alpha": config.alpha}
    with torch.no_grad():
        return {
            "activations": taps[0].double().numpy(),
            "task_grad_norm_sq": g.item(),
            "energy": cosmoreg_torch.energy(taps, M_scale=config.M_scale).item(),
            "lambda_energy": cosmoreg_torch.cosmoreg_loss(taps, g, **hyper).item(),
        }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train one seed, print the per-epoch log, write ``<out-dir>/torch_train.json``."""
    config, seed, out_dir = parse_args(argv, "Train a PyTorch MLP on the digits with CosmoReg.")
    history = train(config, [seed])
    config_dict = dataclasses.asdict(config)
    result = {"framework": "torch", "seed": seed, "config": config_dict, **history.summary()}
    write_json(out_dir / "torch_train.json", result)
    accuracy, loss = result["test_acc"], result["test_loss"]
    print(f"torch {config.label}: test accuracy {accuracy:.4f}, test loss {loss:.4f}")
    return result


if __name__ == "__main__":
    main()
