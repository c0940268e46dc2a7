"""What does an exact CosmoReg step cost, next to a plain training step?

CosmoReg's λ_t = Λ0·exp(−min(α·‖∇θ L_task‖², 70)) needs the task gradient on its own, so an exact
step runs one forward pass, a backward pass of the task loss and a backward pass of the energy S
through the layers upstream of the tapped activations. This script times, per framework and
workload, a plain step (task loss only) against the CosmoReg steps, and compares the measured
ratios with the FLOP floor of the architecture:

    floor = (F + B_task + B_energy) / (F + B_task)

with F the forward multiply-accumulates, B_task ≈ 2F minus the first layer's input gradient, and
B_energy the same count over the layers up to the tap only (see ``bench_common.flop_floor``).

Method. Each framework runs in its own process (``--framework jax|torch``); without
``--framework`` this script is the driver that runs both and checks the targets. Within a
process all modes of a workload are interleaved, one step of each per repetition, after untimed
warm-up steps; a figure is the median of ``--steps`` steps (min–max beside it) and every figure is
also a ratio to the plain step of the same run, so only ratios, not absolute times, carry over
between machines. Amortized modes (``refresh_every=10``) combine the medians of their refresh and
reuse steps as (T_refresh + 9·T_reuse)/10. The JAX ``amortized`` mode picks its step on the host
(two jitted steps, ``cosmoreg_step_grads(refresh=...)`` static); ``amortized-cond`` is the
``lax.cond`` form in one jit, reported without a target. Peak memory is the peak resident set
of a child process that runs only that mode. The energy kernel times ``energy(h)`` against a bare
``sum(h*h)``, forward and backward, on a 4096×4096 float32 tensor.

    python benchmarks/step_overhead.py                      # both frameworks, results/bench.json
    python benchmarks/step_overhead.py --framework torch    # one framework
    python benchmarks/step_overhead.py --tiny --steps 10    # the smoke test's seconds-long run
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_common as common

FRAMEWORKS = ("jax", "torch")
SCRIPT = Path(__file__).resolve()
START = time.perf_counter()

# The targets of the issue.
JAX_EXACT_VS_FLOOR = 1.05
TORCH_EXACT_VS_RECIPE = 0.85
TORCH_EXACT_VS_FLOOR = 1.05
AMORTIZED_VS_PLAIN = 1.10
ENERGY_VS_BARE = 1.25


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", choices=FRAMEWORKS, help="run one framework only")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per mode (>= 10)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed steps per mode first (2 compile both kinds)"
    )
    parser.add_argument("--tiny", action="store_true", help="tiny workloads, for the smoke test")
    parser.add_argument("--out", type=Path, default=Path("results/bench.json"))
    parser.add_argument(
        "--compile-backend",
        default="inductor",
        help="torch.compile backend ('aot_eager' compiles in seconds, for the smoke test)",
    )
    parser.add_argument("--memory-steps", type=int, default=2, help="steps per memory probe")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)  # internal: a child's mode
    parser.add_argument("--workload", help=argparse.SUPPRESS)  # internal: a child's workload
    args = parser.parse_args(argv)
    if args.steps < 10:
        parser.error("--steps must be >= 10, so that the amortized modes time a refresh step")
    return args


def framework_module(framework: str) -> Any:
    """``bench_jax`` or ``bench_torch``, imported only in the process that runs it."""
    if framework == "jax":
        import bench_jax

        return bench_jax
    import bench_torch

    return bench_torch


# ── One framework ────────────────────────────────────────────────────────────────────────────


def run_framework(args: argparse.Namespace) -> dict[str, Any]:
    """Memory probes (child processes) first, then the interleaved timings, then the kernel."""
    memory = run_memory_probes(args)
    log(f"[{args.framework}] memory probes: done")
    bench = framework_module(args.framework)
    if args.tiny and args.framework == "torch":
        # Tiny tensors: one intra-op thread avoids OpenMP spin-waiting on a shared machine.
        bench.torch.set_num_threads(1)
    steps: dict[str, Any] = {}
    for name, workload in common.workloads(args.tiny).items():
        extra = {"compile_backend": args.compile_backend} if args.framework == "torch" else {}
        modes = bench.build_modes(workload, **extra)
        timings = common.time_modes(modes, args.steps, args.warmup)
        common.add_ratios(timings)
        steps[name] = timings
        log(f"[{args.framework}] {name}: timed")

    size = 64 if args.tiny else 4096
    extra = {"compile_backend": args.compile_backend} if args.framework == "torch" else {}
    kernel: dict[str, Any] = {}
    for variant, modes in bench.energy_kernel_modes(size, **extra).items():
        timings = common.time_modes(modes, args.steps, args.warmup)
        common.add_ratios(timings, baseline="bare")
        kernel[variant] = {"size": [size, size], **timings}
    result = {"versions": bench.describe(), "steps": steps, "memory": memory, "energy": kernel}
    if args.framework == "torch":
        result["versions"]["graph_breaks"] = bench.graph_breaks()
    return result


def run_memory_probes(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Peak RSS of each memory mode, each in a fresh child process (two at a time)."""
    modes = ("plain", "exact")
    jobs = [(name, mode) for name in common.workloads(args.tiny) for mode in modes]

    def probe(job: tuple[str, str]) -> dict[str, float]:
        name, mode = job
        command = [sys.executable, str(SCRIPT), "--framework", args.framework]
        command += ["--memory-probe", mode, "--workload", name]
        command += ["--memory-steps", str(args.memory_steps), *(["--tiny"] if args.tiny else [])]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory probe {job} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(probe, jobs))
    memory: dict[str, dict[str, Any]] = {}
    for (name, mode), result in zip(jobs, results, strict=True):
        memory.setdefault(name, {})[mode] = result
    return memory


def memory_probe_main(args: argparse.Namespace) -> None:
    bench = framework_module(args.framework)
    workload = common.workloads(args.tiny)[args.workload]
    result = common.memory_probe(bench.memory_setup(workload, args.memory_probe), args.memory_steps)
    print(json.dumps(result))


def log(message: str) -> None:
    """Progress on stderr, with the seconds since this process started."""
    print(f"{time.perf_counter() - START:7.1f}s {message}", file=sys.stderr, flush=True)


# ── The driver ───────────────────────────────────────────────────────────────────────────────


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Each framework in its own process, one after the other (never concurrently)."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for framework in FRAMEWORKS:
            out = Path(tmp) / f"{framework}.json"
            command = [sys.executable, str(SCRIPT), "--framework", framework, "--out", str(out)]
            command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
            command += ["--compile-backend", args.compile_backend]
            command += ["--memory-steps", str(args.memory_steps)]
            command += ["--tiny"] if args.tiny else []
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            results[framework] = json.loads(out.read_text())["frameworks"][framework]
    return results


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# ── Targets ──────────────────────────────────────────────────────────────────────────────────


def check(name: str, value: float, limit: float, note: str = "") -> dict[str, Any]:
    return {"target": name, "value": value, "limit": limit, "pass": value <= limit, "note": note}


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, for the frameworks present in ``report``."""
    out = []
    frameworks, floors = report["frameworks"], report["flops"]
    for name, flops in floors.items():
        floor = flops["floor_ratio"]
        if "jax" in frameworks:
            steps = frameworks["jax"]["steps"][name]
            out.append(
                check(
                    f"{name} jax exact / plain <= {JAX_EXACT_VS_FLOOR} x floor",
                    steps["exact"]["ratio"],
                    JAX_EXACT_VS_FLOOR * floor,
                    f"floor {floor:.3f}",
                )
            )
            out.append(amortized_check(name, "jax", steps))
        if "torch" in frameworks:
            steps = frameworks["torch"]["steps"][name]
            bound = floor / flops["recipe_ratio"]
            out.append(
                check(
                    f"{name} torch exact / recipe <= {TORCH_EXACT_VS_RECIPE}",
                    steps["exact"]["median_ms"] / steps["recipe"]["median_ms"],
                    TORCH_EXACT_VS_RECIPE,
                    f"FLOP bound: floor/recipe = {floor:.4f}/{flops['recipe_ratio']:.4f} "
                    f"= {bound:.3f}",
                )
            )
            out.append(
                check(
                    f"{name} torch exact / plain <= {TORCH_EXACT_VS_FLOOR} x floor",
                    steps["exact"]["ratio"],
                    TORCH_EXACT_VS_FLOOR * floor,
                    f"floor {floor:.3f}",
                )
            )
            out.append(amortized_check(name, "torch", steps))
    for result in frameworks.values():
        for variant, timings in result["energy"].items():
            out.append(
                check(
                    f"energy kernel {variant} / bare sum(h*h) <= {ENERGY_VS_BARE}",
                    timings["energy"]["ratio"],
                    ENERGY_VS_BARE,
                )
            )
    return out


def amortized_check(name: str, framework: str, steps: dict[str, Any]) -> dict[str, Any]:
    return check(
        f"{name} {framework} amortized k=10 / plain <= {AMORTIZED_VS_PLAIN}",
        steps["amortized"]["ratio"],
        AMORTIZED_VS_PLAIN,
    )


# ── Output ───────────────────────────────────────────────────────────────────────────────────


def markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    versions = ", ".join(
        f"{k} {v}" for r in report["frameworks"].values() for k, v in r["versions"].items()
    )
    lines = [
        "# CosmoReg step overhead",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_available']} available), "
        f"load average {m['load_average']}, Python {m['python']}; {versions}.",
        f"Settings: {s['steps']} timed steps per mode after {s['warmup']} warm-up steps, "
        f"interleaved; tiny={s['tiny']}; float32; wall time {report['wall_s']:.0f} s.",
    ]
    for name, flops in report["flops"].items():
        floor = flops["floor_ratio"]
        lines += [
            "",
            f"## {name}: FLOP floor {floor:.4f}, published recipe {flops['recipe_ratio']:.4f} "
            f"(MACs: forward {flops['forward_macs']:,}, task backward "
            f"{flops['task_backward_macs']:,}, energy backward {flops['energy_backward_macs']:,})",
            "",
            "| framework | mode | median ms | min–max ms | × plain | × plain (min) | ÷ floor "
            "| peak RSS MiB (Δ vs setup) |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for framework, result in report["frameworks"].items():
            memory = result["memory"].get(name, {})
            for mode, t in result["steps"][name].items():
                rss = memory.get(mode)
                rss_cell = (
                    f"{rss['peak_rss_mb']:.0f} (+{rss['peak_rss_mb'] - rss['baseline_rss_mb']:.0f})"
                    if rss
                    else ""
                )
                lines.append(
                    f"| {framework} | {mode} | {t['median_ms']:.2f} | {t['min_ms']:.2f}–"
                    f"{t['max_ms']:.2f} | {t['ratio']:.3f} | {t['ratio_min']:.3f} | "
                    f"{t['ratio'] / floor:.3f} | {rss_cell} |"
                )
    lines += [
        "",
        "## Energy kernel: energy(h) vs sum(h*h), forward + backward",
        "",
        "| variant | size | bare ms | energy ms | energy ÷ bare | (min ÷ min) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for result in report["frameworks"].values():
        for variant, t in result["energy"].items():
            size = "×".join(map(str, t["size"]))
            lines.append(
                f"| {variant} | {size} | {t['bare']['median_ms']:.2f} | "
                f"{t['energy']['median_ms']:.2f} | {t['energy']['ratio']:.3f} | "
                f"{t['energy']['ratio_min']:.3f} |"
            )
    lines += ["", "## Targets", ""]
    for c in report["checks"]:
        verdict = "PASS" if c["pass"] else "FAIL"
        note = f"  ({c['note']})" if c["note"] else ""
        lines.append(f"- {verdict}: {c['target']}: {c['value']:.3f} vs {c['limit']:.3f}{note}")
    notes = {
        f"{f} {mode}": t["note"]
        for f, r in report["frameworks"].items()
        for mode, t in next(iter(r["steps"].values())).items()
    }
    lines += ["", "Modes: " + "; ".join(f"{k}: {v}" for k, v in notes.items()) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_probe:
        memory_probe_main(args)
        return
    start = time.perf_counter()
    if args.framework:
        frameworks = {args.framework: run_framework(args)}
    else:
        frameworks = run_all(args)
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "steps": args.steps,
            "warmup": args.warmup,
            "tiny": args.tiny,
            "compile_backend": args.compile_backend,
        },
        "flops": {name: common.flop_floor(w) for name, w in common.workloads(args.tiny).items()},
        "frameworks": frameworks,
    }
    report["checks"] = checks(report)
    report["wall_s"] = time.perf_counter() - start
    print(markdown(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
