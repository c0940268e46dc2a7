"""The PyTorch side of the step-overhead benchmark (this process never imports JAX)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as nnf
from bench_common import Conv, Dense, Layer, Mode, Workload
from torch import Tensor, nn

import cosmoreg_torch as cr

M_SCALE = 2.0
LEARNING_RATE = 1e-3
REFRESH_EVERY = 10
MODES = ("plain", "exact", "recipe", "amortized", "exact_compiled")
MEMORY_MODES = ("plain", "exact")


class Net(nn.Module):
    """``head(flatten(trunk(x)))``; the energy is taken on the output of ``trunk``."""

    def __init__(self, workload: Workload) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*(_block(layer) for layer in workload.trunk))
        head = [nn.Linear(d.d_in, d.d_out) for d in workload.head]
        self.head = nn.Sequential(nn.Flatten(), *_interleave_relu(head))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


def _block(layer: Layer) -> nn.Module:
    if isinstance(layer, Dense):
        return nn.Sequential(nn.Linear(layer.d_in, layer.d_out), nn.ReLU())
    assert isinstance(layer, Conv)
    conv = nn.Conv2d(layer.c_in, layer.c_out, layer.kernel, padding=layer.kernel // 2)
    return nn.Sequential(conv, nn.ReLU(), *([nn.MaxPool2d(2)] if layer.pool else []))


def _interleave_relu(layers: list[nn.Module]) -> list[nn.Module]:
    out: list[nn.Module] = []
    for i, layer in enumerate(layers):
        out += [layer] if i == len(layers) - 1 else [layer, nn.ReLU()]
    return out


def make_batch(workload: Workload) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((workload.batch, *workload.input_shape), generator=generator)
    y = torch.randint(0, workload.num_classes, (workload.batch,), generator=generator)
    return x, y


def energy_dim(workload: Workload) -> int:
    """The channel axis of a CNN's (N, C, H, W) activations, the feature axis of an MLP's."""
    return 1 if isinstance(workload.trunk[-1], Conv) else -1


class TorchStep:
    """One model (its own copy of the initial weights) with its optimizer and tap."""

    def __init__(self, workload: Workload, net: Net, batch: tuple[Tensor, Tensor]) -> None:
        self.net = copy.deepcopy(net)
        self.params = list(self.net.parameters())
        self.opt = torch.optim.Adam(self.params, lr=LEARNING_RATE)
        self.tap = cr.ActivationTap(self.net, ["trunk"])
        self.dim = energy_dim(workload)
        self.x, self.y = batch
        self.forward: Callable[[Tensor], Tensor] = self.net

    def task_loss(self) -> Tensor:
        return nnf.cross_entropy(self.forward(self.x), self.y)

    def energy(self) -> Tensor:
        return self.tap.energy(M_scale=M_SCALE, dim=self.dim)

    def plain(self) -> None:
        self.opt.zero_grad()
        self.task_loss().backward()
        self.opt.step()

    def cosmoreg(self, reg: cr.CosmoReg) -> None:
        self.opt.zero_grad()
        task = self.task_loss()
        reg.backward(task, self.energy())
        self.opt.step()

    def recipe(self, loss_fn: cr.CosmoRegLoss) -> None:
        """The published class as it must be used: g from a first backward, then a second."""
        self.opt.zero_grad()
        task = self.task_loss()
        h = self.tap.activations["trunk"]
        grads = torch.autograd.grad(task, self.params, retain_graph=True)
        g = sum(grad.pow(2).sum() for grad in grads)
        (task + loss_fn(h, g)).backward()
        self.opt.step()


def build_modes(workload: Workload, compile_backend: str) -> dict[str, Mode]:
    """Every PyTorch mode, each on its own copy of the same initial model."""
    torch.manual_seed(0)
    net, batch = Net(workload), make_batch(workload)
    steps = {name: TorchStep(workload, net, batch) for name in MODES}

    exact_reg = cr.CosmoReg(steps["exact"].params)
    amortized_reg = cr.CosmoReg(steps["amortized"].params, refresh_every=REFRESH_EVERY)
    compiled_reg = cr.CosmoReg(steps["exact_compiled"].params)
    loss_fn = cr.CosmoRegLoss(M_scale=M_SCALE, dim=steps["recipe"].dim)
    compiled = steps["exact_compiled"]
    # CosmoReg.backward retains the graph for its second pass, which AOTAutograd's donated
    # buffers (freed by the first backward) forbid.
    torch._functorch.config.donated_buffer = False
    compiled.forward = torch.compile(compiled.net, backend=compile_backend)

    def amortized_kind() -> str:
        return "refresh" if amortized_reg.count.item() % REFRESH_EVERY == 0 else "reuse"

    return {
        "plain": Mode(steps["plain"].plain, note="loss.backward(); opt.step()"),
        "exact": Mode(lambda: steps["exact"].cosmoreg(exact_reg), note="CosmoReg.backward"),
        "recipe": Mode(
            lambda: steps["recipe"].recipe(loss_fn),
            note="autograd.grad for g, then (task + CosmoRegLoss).backward()",
        ),
        "amortized": Mode(
            lambda: steps["amortized"].cosmoreg(amortized_reg),
            kind=amortized_kind,
            refresh_every=REFRESH_EVERY,
            note=f"CosmoReg(refresh_every={REFRESH_EVERY})",
        ),
        "exact_compiled": Mode(
            lambda: compiled.cosmoreg(compiled_reg),
            note=f"torch.compile(model, backend={compile_backend!r}) forward; "
            "CosmoReg.backward eager (a whole-step compile recompiles on its step counter)",
        ),
    }


def memory_setup(workload: Workload, mode: str) -> Callable[[], Callable[[], None]]:
    def setup() -> Callable[[], None]:
        torch.manual_seed(0)
        step = TorchStep(workload, Net(workload), make_batch(workload))
        if mode == "plain":
            return step.plain
        reg = cr.CosmoReg(step.params)
        return lambda: step.cosmoreg(reg)

    return setup


# ── Energy kernel ────────────────────────────────────────────────────────────────────────────


def energy_kernel_modes(size: int, compile_backend: str) -> dict[str, dict[str, Mode]]:
    """``energy(h)`` and a bare ``sum(h*h)``, forward + backward, eager and compiled."""
    h = torch.randn(size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)

    def energy(x: Tensor) -> Tensor:
        return cr.energy(x, M_scale=M_SCALE)

    def bare(x: Tensor) -> Tensor:
        return (x * x).sum()

    def fwd_bwd(fn: Callable[[Tensor], Tensor]) -> Callable[[], None]:
        def run() -> None:
            h.grad = None
            fn(h).backward()

        return run

    variants: dict[str, dict[str, Mode]] = {}
    for variant, wrap in (
        ("torch_eager", lambda fn: fn),
        ("torch_compile", lambda fn: torch.compile(fn, backend=compile_backend)),
    ):
        variants[variant] = {
            "bare": Mode(fwd_bwd(wrap(bare)), note="sum(h*h)"),
            "energy": Mode(fwd_bwd(wrap(energy)), note="cosmoreg_torch.energy"),
        }
    return variants


def graph_breaks() -> int:
    """Graph breaks Dynamo has recorded in this process so far."""
    return sum(torch._dynamo.utils.counters["graph_break"].values())


def describe() -> dict[str, object]:
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
