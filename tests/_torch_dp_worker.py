"""One rank of the PyTorch data-parallel tests (run as a script), and the shared training loop.

    python tests/_torch_dp_worker.py RANK WORLD PORT OUT_DIR

joins a ``gloo`` process group on 127.0.0.1:PORT, trains every scenario of ``SCENARIOS`` under
``DistributedDataParallel`` on this rank's shard of each global batch, and saves the
trajectories to ``OUT_DIR/rank{RANK}.npz``; it also records what ``CosmoReg`` says about
FSDP-sharded parameters (``fully_shard`` and ``FullyShardedDataParallel``).
``tests/test_data_parallel_torch.py`` runs :func:`train` on the full batch in one process as the
reference.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

import cosmoreg_torch

GLOBAL_BATCH, STEPS, NAN_STEP = 16, 20, 7
M_SCALE, LAMBDA_0, ALPHA = 2.0, 0.5, 2.0

# name: (optimizer, refresh_every, energy reduction, skip_nonfinite with a NaN batch at NAN_STEP)
SCENARIOS = {
    "sgd": ("sgd", 1, "mean", False),
    "adam": ("adam", 1, "mean", False),
    "sgd_amortized": ("sgd", 3, "mean", False),
    "adam_amortized": ("adam", 3, "mean", False),
    "sgd_sum": ("sgd", 1, "sum", False),
    "adam_skip_nan": ("adam", 1, "mean", True),
}


class MLP(nn.Module):
    """6 → 8 (tanh) → 8 (tanh, tapped as ``hidden``) → 3, in float64."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.hidden = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.fc2(torch.tanh(self.fc1(x)))))


def make_model() -> MLP:
    torch.manual_seed(0)
    return MLP().double()


def global_batch(step: int, nan: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's global batch; with ``nan``, the last sample of the NaN step is NaN."""
    gen = torch.Generator().manual_seed(1000 + step)
    x = 2.0 * torch.randn(GLOBAL_BATCH, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (GLOBAL_BATCH,), generator=gen)
    if nan and step == NAN_STEP:
        x[-1, 0] = float("nan")
    return x, y


def train(
    scenario: str,
    model: nn.Module,
    shard: Callable[[torch.Tensor], torch.Tensor],
    *,
    energy_scale: float = 1.0,
    skip_steps: tuple[int, ...] = (),
) -> dict[str, np.ndarray]:
    """``STEPS`` steps of ``SCENARIOS[scenario]`` on ``shard`` of each global batch.

    ``model`` is the module to call (a DDP wrapper or the plain model); ``energy_scale``
    multiplies the energy and ``skip_steps`` leaves batches out (the single-process references
    of ``reduction="sum"`` and of a skipped step). Returns the parameters (flattened) and λ_t
    after every step, the losses, and the skip counters.
    """
    opt_name, refresh_every, reduction, nan = SCENARIOS[scenario]
    params = list(model.parameters())
    opt = (
        torch.optim.SGD(params, lr=0.2)
        if opt_name == "sgd"
        else torch.optim.Adam(params, lr=0.02, betas=(0.8, 0.9))
    )
    reg = cosmoreg_torch.CosmoReg(
        params, LAMBDA_0, ALPHA, refresh_every=refresh_every, skip_nonfinite=nan
    )
    inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    out: dict[str, list] = {"params": [], "lambda": [], "loss": [], "stepped": []}
    with cosmoreg_torch.ActivationTap(inner, ["hidden"]) as tap:
        for step in range(STEPS):
            if step in skip_steps:
                continue
            x, y = global_batch(step, nan)
            opt.zero_grad()
            task = nn.functional.cross_entropy(model(shard(x)), shard(y))
            energy = energy_scale * tap.energy(M_scale=M_SCALE, reduction=reduction)
            out["loss"].append(reg.backward(task, energy).item())
            out["stepped"].append(reg.step(opt))
            out["lambda"].append(reg.lambda_t.item())
            out["params"].append(torch.cat([p.detach().reshape(-1) for p in params]).numpy())
    result = {key: np.asarray(value) for key, value in out.items()}
    result["skipped_steps"] = np.asarray(reg.skipped_steps.item())
    result["count"] = np.asarray(reg.count.item())
    return result


def fsdp_messages(world: int) -> dict[str, str]:
    """The errors CosmoReg raises on FSDP-sharded parameters (empty where none is raised)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard

    fsdp2 = make_model()
    fully_shard(fsdp2, mesh=init_device_mesh("cpu", (world,)))
    cpu = torch.device("cpu")
    models = {
        "fully_shard": fsdp2,
        "fsdp1": FullyShardedDataParallel(make_model(), device_id=cpu),
        "fsdp1_orig_params": FullyShardedDataParallel(
            make_model(), device_id=cpu, use_orig_params=True
        ),
    }
    messages = {}
    for name, model in models.items():
        try:
            cosmoreg_torch.CosmoReg(model.parameters())
            messages[name] = ""
        except NotImplementedError as err:
            messages[name] = str(err)
    return messages


def main(rank: int, world: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    per_rank = GLOBAL_BATCH // world

    def shard(t: torch.Tensor) -> torch.Tensor:
        return t[rank * per_rank : (rank + 1) * per_rank]

    results = {}
    for scenario in SCENARIOS:
        ddp = nn.parallel.DistributedDataParallel(make_model())
        for key, value in train(scenario, ddp, shard).items():
            results[f"{scenario}/{key}"] = value
    for name, message in fsdp_messages(world).items():
        results[f"fsdp/{name}"] = np.asarray(message)
    np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **results)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
