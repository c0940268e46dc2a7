"""Smoke test of benchmarks/step_overhead.py: it runs, and its FLOP floor matches a hand count.

Timings are never asserted (the machine may be shared); only that every figure is there.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "step_overhead.py"
MODES = {
    "jax": {"plain", "exact", "amortized", "amortized-cond"},
    "torch": {"plain", "exact", "recipe", "amortized", "exact_compiled"},
}
WORKLOADS = {"mlp", "cnn"}


def _positive_finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    command = [sys.executable, str(SCRIPT), "--tiny", "--steps", "10", "--warmup", "1"]
    command += ["--memory-steps", "1", "--compile-backend", "aot_eager", "--out", str(out)]
    # Its own session, so that a timeout also ends the framework and memory-probe grandchildren.
    with subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.returncode == 0, stderr
    assert "| torch | exact |" in stdout
    return json.loads(out.read_text())


def test_every_mode_has_finite_positive_timings_and_ratios(report: dict) -> None:
    assert set(report["frameworks"]) == set(MODES)
    for framework, modes in MODES.items():
        result = report["frameworks"][framework]
        assert set(result["steps"]) == WORKLOADS
        for workload, timings in result["steps"].items():
            assert set(timings) == modes, (framework, workload)
            for mode, stats in timings.items():
                for key in ("median_ms", "min_ms", "max_ms", "ratio", "ratio_min"):
                    assert _positive_finite(stats[key]), (framework, workload, mode, key)
            assert timings["plain"]["ratio"] == 1.0
            for mode in ("plain", "exact"):
                memory = result["memory"][workload][mode]
                assert _positive_finite(memory["peak_rss_mb"])
                assert memory["peak_rss_mb"] >= memory["baseline_rss_mb"] > 0
        assert result["energy"]
        for variant in result["energy"].values():
            assert _positive_finite(variant["energy"]["ratio"])


def test_every_target_is_checked(report: dict) -> None:
    targets = [c["target"] for c in report["checks"]]
    assert len(targets) == 2 * (2 + 3) + 3  # per workload: jax 2, torch 3; 3 kernel variants
    for c in report["checks"]:
        assert isinstance(c["pass"], bool)
        assert _positive_finite(c["value"]) and _positive_finite(c["limit"])


def test_mlp_floor_matches_a_hand_count(report: dict) -> None:
    # The tiny MLP: batch 8, 12 -> 16 -> 16 (tapped) -> 3.
    batch, l1, l2, l3 = 8, 12 * 16, 16 * 16, 16 * 3
    forward = batch * (l1 + l2 + l3)
    task = batch * (l1 + 2 * l2 + 2 * l3)  # weight grads everywhere, no input grad for layer 1
    energy = batch * (l1 + 2 * l2)  # the same through the trunk only
    flops = report["flops"]["mlp"]
    assert (flops["forward_macs"], flops["task_backward_macs"]) == (forward, task)
    assert flops["energy_backward_macs"] == energy
    floor = (forward + task + energy) / (forward + task)
    assert flops["floor_ratio"] == pytest.approx(floor, rel=1e-12)
    assert flops["recipe_ratio"] == pytest.approx((forward + 2 * task) / (forward + task))
