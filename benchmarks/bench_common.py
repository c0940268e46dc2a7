"""Framework-free parts of the step-overhead benchmark: workloads, FLOP floor, timing harness.

Neither PyTorch nor JAX is imported here, so each framework's process loads only its own.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# ── Workloads ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Dense:
    """A fully connected layer (ReLU after it unless it is the last layer)."""

    d_in: int
    d_out: int

    def macs(self) -> int:
        return self.d_in * self.d_out


@dataclass(frozen=True)
class Conv:
    """A 3×3 'same' convolution at resolution ``size``×``size``, ReLU, optionally a 2×2 max-pool."""

    c_in: int
    c_out: int
    size: int
    pool: bool = False
    kernel: int = 3

    def macs(self) -> int:
        return self.size * self.size * self.c_out * self.c_in * self.kernel * self.kernel


Layer = Dense | Conv


@dataclass(frozen=True)
class Workload:
    """A classifier: ``trunk`` (whose output is tapped for the energy), then ``head``.

    ``input_shape`` is per sample: ``(features,)`` for an MLP, ``(channels, height, width)`` for
    a CNN (JAX transposes it to NHWC). A CNN's energy reduces the channel axis, one activation
    vector per pixel; the trunk's output is flattened before the head.
    """

    name: str
    batch: int
    input_shape: tuple[int, ...]
    trunk: tuple[Layer, ...]
    head: tuple[Dense, ...]
    num_classes: int


def workloads(tiny: bool) -> dict[str, Workload]:
    """The MLP of the issue (784-1024-1024-1024-10, batch 256) and a small CNN, or tiny ones."""
    if tiny:
        return {
            "mlp": Workload("mlp", 8, (12,), (Dense(12, 16), Dense(16, 16)), (Dense(16, 3),), 3),
            "cnn": Workload(
                "cnn", 4, (3, 8, 8), (Conv(3, 4, 8, pool=True), Conv(4, 4, 4)), (Dense(64, 3),), 3
            ),
        }
    return {
        "mlp": Workload(
            "mlp",
            256,
            (784,),
            (Dense(784, 1024), Dense(1024, 1024), Dense(1024, 1024)),
            (Dense(1024, 10),),
            10,
        ),
        "cnn": Workload(
            "cnn",
            32,
            (3, 32, 32),
            (
                Conv(3, 32, 32),
                Conv(32, 32, 32, pool=True),
                Conv(32, 64, 16),
                Conv(64, 64, 16, True),
            ),
            (Dense(64 * 8 * 8, 10),),
            10,
        ),
    }


# ── FLOP floor ───────────────────────────────────────────────────────────────────────────────


def backward_macs(layers: tuple[Layer, ...]) -> int:
    """MACs of a backward pass through ``layers`` to the parameters only.

    Each layer costs a weight gradient (its forward MACs) and an input gradient (again its
    forward MACs), except the first layer, whose input (the data) needs no gradient.
    """
    return sum(2 * layer.macs() for layer in layers) - layers[0].macs()


def flop_floor(workload: Workload) -> dict[str, float]:
    """Multiply-accumulates per batch of the three passes, and the ratios they bound.

    ``floor_ratio = (F + B_task + B_energy) / (F + B_task)``: the least a step that needs ∇L_task
    on its own can cost relative to a plain step. ``recipe_ratio = (F + 2·B_task) / (F + B_task)``
    is the published-class recipe (a task backward for g, then a full backward of the sum).
    Element-wise work (activations, pooling, the energy itself, the optimizer) is not counted.
    """
    layers = workload.trunk + workload.head
    forward = workload.batch * sum(layer.macs() for layer in layers)
    task = workload.batch * backward_macs(layers)
    energy = workload.batch * backward_macs(workload.trunk)
    plain = forward + task
    return {
        "forward_macs": forward,
        "task_backward_macs": task,
        "energy_backward_macs": energy,
        "floor_ratio": (plain + energy) / plain,
        "recipe_ratio": (plain + task) / plain,
    }


# ── Timing ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class Mode:
    """One way of running a training step.

    ``step()`` runs one step to completion (results ready). ``kind()``, if given, names the kind
    of the *next* step (``"refresh"`` or ``"reuse"`` for the amortized modes), so that their
    per-step cost can be combined from the median of each kind.
    """

    step: Callable[[], None]
    kind: Callable[[], str] | None = None
    refresh_every: int = 1
    note: str = ""


def time_modes(modes: Mapping[str, Mode], steps: int, warmup: int) -> dict[str, dict]:
    """Round-robin over ``modes``: each repetition runs one step of every mode, in turn.

    Interleaving spreads machine noise evenly over the modes. ``warmup`` untimed steps per mode
    come first (compilation, allocator warm-up), then ``steps`` timed ones.
    """
    for _ in range(warmup):
        for mode in modes.values():
            mode.step()
    samples: dict[str, list[tuple[str, float]]] = {name: [] for name in modes}
    for _ in range(steps):
        for name, mode in modes.items():
            kind = mode.kind() if mode.kind else "step"
            start = time.perf_counter()
            mode.step()
            samples[name].append((kind, time.perf_counter() - start))
    return {name: summarize(samples[name], modes[name]) for name in modes}


def summarize(samples: list[tuple[str, float]], mode: Mode) -> dict:
    """Median and min–max in milliseconds.

    An amortized mode (one refresh step per ``k``) is summarized per kind, and its per-step cost
    is ``(T_refresh + (k−1)·T_reuse) / k`` of the medians (of the minima, of the maxima): a plain
    median over its steps would hide the refresh steps.
    """
    by_kind: dict[str, list[float]] = {}
    for kind, seconds in samples:
        by_kind.setdefault(kind, []).append(seconds * 1e3)
    stats = {kind: _stats(values) for kind, values in by_kind.items()}
    if mode.kind is None:
        return {**stats["step"], "steps": len(samples), "note": mode.note}
    k = mode.refresh_every
    missing = {"refresh", "reuse"} - set(stats)
    if missing:
        raise ValueError(f"amortized mode timed no {sorted(missing)} step; use more --steps")

    def combine(key: str) -> float:
        return (stats["refresh"][key] + (k - 1) * stats["reuse"][key]) / k

    return {
        "median_ms": combine("median_ms"),
        "min_ms": combine("min_ms"),
        "max_ms": combine("max_ms"),
        "steps": len(samples),
        "by_kind": stats,
        "note": mode.note,
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(values), "min_ms": min(values), "max_ms": max(values)}


def add_ratios(timings: dict[str, dict], baseline: str = "plain") -> None:
    """Add ``ratio`` (median / median of ``baseline``) and ``ratio_min`` (min / min) to each."""
    base = timings[baseline]
    for stats in timings.values():
        stats["ratio"] = stats["median_ms"] / base["median_ms"]
        stats["ratio_min"] = stats["min_ms"] / base["min_ms"]


def is_positive_finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


# ── Memory ───────────────────────────────────────────────────────────────────────────────────


def rss_mb() -> float:
    """The resident set of this process now, in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """The peak resident set of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def memory_probe(setup: Callable[[], Callable[[], None]], steps: int) -> dict[str, float]:
    """Peak RSS of ``steps`` steps of one mode, in a process that runs nothing else.

    ``setup()`` builds the model, data and optimizer and returns the step; ``baseline_mb`` is
    the resident set after it, before the first step.
    """
    step = setup()
    baseline = rss_mb()
    for _ in range(steps):
        step()
    return {"peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}
