"""The examples run, learn, log what CosmoReg did, and their reports say what they should."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import evidence  # noqa: E402
import flax_train  # noqa: E402
import full_demo  # noqa: E402
import torch_train  # noqa: E402
from digits import load_split  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Λ0 small enough that 2 epochs learn well (the energy sums φ over the batch); α large enough
# that λ_t visibly differs from Λ0.
LAMBDA_0, ALPHA = 1e-5, 0.5


@pytest.mark.parametrize("module", [flax_train, torch_train], ids=["flax", "torch"])
def test_train_learns_and_logs_the_adaptive_lambda(module, tmp_path):
    argv = ["--epochs", "2", "--lambda-0", str(LAMBDA_0), "--alpha", str(ALPHA)]
    result = module.main([*argv, "--out-dir", str(tmp_path)])

    assert result["test_acc"] > 0.5  # chance is 0.1
    assert result["epochs"][-1]["val_acc"] > 0.5
    assert result["epochs"][-1]["task_loss"] < result["epochs"][0]["task_loss"]
    assert all(np.isfinite(e["energy"]) and e["energy"] > 0 for e in result["epochs"])

    g = np.asarray(result["task_grad_norm_sq"], np.float64)
    lam = np.asarray(result["lambda_t"], np.float64)
    steps_per_epoch = len(load_split().y_train) // 64
    assert g.shape == lam.shape == (2 * steps_per_epoch,)  # one entry per step
    expected = LAMBDA_0 * np.exp(-np.minimum(ALPHA * g, 70.0))
    np.testing.assert_allclose(lam, expected, rtol=1e-5)
    assert lam.min() < 0.99 * LAMBDA_0  # λ_t did adapt to the gradients

    written = json.loads((tmp_path / f"{result['framework']}_train.json").read_text())
    assert written["test_acc"] == result["test_acc"]


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path


def test_full_demo_quick_writes_figures_and_passes_parity(tmp_path, capsys):
    result = full_demo.main(["--quick", "--out-dir", str(tmp_path)])
    printed = capsys.readouterr().out

    for name in ("confinement.png", "lambda_dynamics.png", "ab.png"):
        _assert_png(tmp_path / name)
    assert "parity check: PASS" in printed
    assert result["passed"]
    assert all(row["energy"] <= 1e-5 and row["λ·S"] <= 1e-5 for row in result["parity"])
    assert "| CosmoReg |" in (tmp_path / "demo_summary.md").read_text()


def test_evidence_quick_gives_a_verdict_per_claim(tmp_path):
    evidence.main(["--quick", "--out-dir", str(tmp_path)])
    report = (tmp_path / "evidence.md").read_text()

    verdicts = ("supported", "not supported", "inconclusive at this scale")
    for claim in ("(a)", "(b)", "(c)", "(d)"):
        lines = [line for line in report.splitlines() if line.startswith(f"| {claim}")]
        assert len(lines) == 1, claim
        assert lines[0].rstrip(" |").split("|")[-1].strip().startswith(verdicts), lines[0]
    assert "python examples/evidence.py --quick" in report
    _assert_png(tmp_path / "evidence_confinement.png")
