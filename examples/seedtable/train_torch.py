"""Train and test one arm of ``seed_table.py`` in PyTorch; ``train_flax.py`` is its JAX twin."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

import cosmoreg_torch
from seedtable import models_torch
from seedtable.data import Dataset
from seedtable.experiments import (
    ALPHA,
    LAMBDA_0,
    LEARNING_RATE,
    M_SCALE,
    Arm,
    Experiment,
    Result,
    TrainConfig,
    eval_batches,
    inputs,
    model_spec,
    steps_per_epoch,
    train_batches,
)

Step = Callable[[Tensor, Tensor], dict[str, Tensor]]  # (x, y) -> values to log


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_tensor(x: np.ndarray, dev: torch.device) -> Tensor:
    """Inputs on ``dev``: NHWC images become NCHW, token ids int64."""
    t = torch.from_numpy(x)
    t = t.permute(0, 3, 1, 2).contiguous() if t.ndim == 4 else t.long()
    return t.to(dev)


def l2_penalty(model: nn.Module) -> Tensor:
    """Σθ² over the weight matrices and conv kernels (parameters with ndim ≥ 2)."""
    return sum(p.square().sum() for p in model.parameters() if p.ndim >= 2)


def baseline_step(model: nn.Module, optimizer: torch.optim.Optimizer, l2_weight: float) -> Step:
    """One Adam step on cross-entropy + ``l2_weight``·Σθ²."""

    def step(x: Tensor, y: Tensor) -> Tensor:
        optimizer.zero_grad()
        task_loss = nn.functional.cross_entropy(model(x), y)
        (task_loss + l2_weight * l2_penalty(model) if l2_weight else task_loss).backward()
        optimizer.step()
        return {"loss": task_loss.detach()}

    return step


def cosmoreg_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, tap: cosmoreg_torch.ActivationTap
) -> Step:
    """One Adam step along ∇L_task + λ_t·∇S, S the energy of the tapped activations."""
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA)

    def step(x: Tensor, y: Tensor) -> Tensor:
        optimizer.zero_grad()
        task_loss = nn.functional.cross_entropy(model(x), y)
        task_loss = reg.backward(task_loss, tap.energy(M_scale=M_SCALE))
        optimizer.step()
        return {"loss": task_loss, "λ": reg.lambda_t}

    return step


def fit(
    model: nn.Module, step: Step, data: Dataset, config: TrainConfig, seed: int, desc: str
) -> None:
    """``config.epochs`` epochs of ``step`` over shuffled batches, with a progress bar."""
    dev = next(model.parameters()).device
    x, y = as_tensor(inputs(data, "train"), dev), torch.from_numpy(data.y_train).to(dev)
    rng = np.random.default_rng(seed)
    total = config.epochs * steps_per_epoch(len(x), config.batch_size)
    model.train()
    with tqdm(total=total, desc=desc, leave=False) as bar:
        for epoch in range(config.epochs):
            for idx in train_batches(len(x), config.batch_size, rng):
                index = torch.from_numpy(idx).to(dev)
                logs = step(x[index], y[index])
                bar.update()
            bar.set_postfix(epoch=epoch + 1, **{k: f"{v.item():.4g}" for k, v in logs.items()})


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, batch_size: int) -> Result:
    """Accuracy and mean cross-entropy on ``data``'s test split, and the model's size."""
    dev = next(model.parameters()).device
    x, y = as_tensor(inputs(data, "test"), dev), torch.from_numpy(data.y_test).to(dev)
    model.eval()
    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    for batch in eval_batches(len(x), batch_size):
        logits = model(x[batch])
        loss_sum += nn.functional.cross_entropy(logits, y[batch], reduction="sum")
        correct += (logits.argmax(dim=-1) == y[batch]).sum()
    parameters = sum(p.numel() for p in model.parameters())
    return Result(correct.item() / len(x), loss_sum.item() / len(x), parameters)


def run(experiment: Experiment, arm: Arm, data: Dataset, config: TrainConfig, seed: int) -> Result:
    """Train a fresh model of ``arm`` on ``data``'s training split, then test it."""
    torch.manual_seed(seed)
    spec = model_spec(experiment, arm, config, data.num_classes)
    model = models_torch.build(spec).to(device())
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    desc = f"{arm.name}, seed {seed}"
    if arm.cosmoreg:
        with cosmoreg_torch.ActivationTap(model, [models_torch.TAPPED]) as tap:
            fit(model, cosmoreg_step(model, optimizer, tap), data, config, seed, desc)
    else:
        fit(model, baseline_step(model, optimizer, arm.l2_weight), data, config, seed, desc)
    return evaluate(model, data, config.batch_size)
