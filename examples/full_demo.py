"""The CosmoReg demo (``make demo``): train on the digits in JAX and PyTorch, plot, check parity.

1. JAX (Flax NNX MLP, every seed at once): CosmoReg with the published defaults (M = 1,
   Λ0 = 0.01, α = 0.05) against L2 weight decay λ = 0.001 (coupled, as
   ``torch.optim.Adam(weight_decay=0.001)``) and against no regularizer; plus CosmoReg at
   M = 2 > √2, where φ has a stable radius, to show confinement.
2. PyTorch: the same CosmoReg MLP, trained once (seed 0).
3. Parity: the trained weights of each framework are loaded into both, and the tapped
   activations' energy S and λ_t·S (λ_t from each framework's own ‖∇L_task‖² on the validation
   set) are compared, relative to Σ_i|φ(s_i)| as in ``parity_tests``; pass at ≤ 1e-5 (float32).

Writes ``confinement.png``, ``lambda_dynamics.png``, ``ab.png`` and ``demo_summary.md`` into
``--out-dir`` (default ``results/``) and prints the summary and the parity check.

    python examples/full_demo.py            # ~1–2 minutes on 2 CPU cores
    python examples/full_demo.py --quick    # 2 seeds × 2 epochs, a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flax_train
import numpy as np
import torch_train
from config import History, RunConfig
from digits import Split, load_split
from plots import ConfinementPanel, plot_confinement, plot_curves, plot_lambda_dynamics
from stats import mean_std

PUBLISHED = RunConfig(reg="cosmoreg")  # M = 1, Λ0 = 0.01, α = 0.05
CONFINED = dataclasses.replace(PUBLISHED, M_scale=2.0)  # M > √2: r_s ≈ 2.38, r_b ≈ 0.69
ARMS = {
    "CosmoReg": PUBLISHED,
    "L2 (λ=0.001)": RunConfig(reg="l2", weight_decay=1e-3),
    "none": RunConfig(reg="none"),
    "CosmoReg M=2": CONFINED,
}
TOLERANCE = 1e-5  # float32 parity, relative to Σ|φ|


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("results"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm (JAX)")
    parser.add_argument("--quick", action="store_true", help="2 seeds × 2 epochs (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds = 2, 2
    return args


def train_arms(epochs: int, seeds: Sequence[int], split: Split) -> dict[str, History]:
    """Every arm in JAX, all seeds at once."""
    histories = {}
    for label, config in ARMS.items():
        start = time.perf_counter()
        config = dataclasses.replace(config, epochs=epochs)
        histories[label] = flax_train.train(config, seeds, split=split, log=False)
        acc = mean_std(histories[label].test_acc)
        print(
            f"  [jax]   {config.label:38s} {len(seeds)} seeds × {epochs} epochs "
            f"{time.perf_counter() - start:5.1f} s   test acc {acc[0]:.4f} ± {acc[1]:.4f}"
        )
    return histories


def _abs_energy(activations: np.ndarray, M_scale: float, eps: float = 1e-8) -> float:
    """Σ_i|φ(s_i)| in float64: the scale that energy differences are measured against."""
    s = np.sum(np.square(activations), axis=-1)
    return float(np.sum(np.abs(-(s + eps) * np.log(s + eps) + s * s / M_scale**2)))


def parity_rows(
    cases: dict[str, tuple[dict[str, np.ndarray], RunConfig]], split: Split
) -> list[dict[str, Any]]:
    """Load each case's weights into both frameworks and compare S and λ_t·S on the val set."""
    x, y = split.subset("val")
    rows = []
    for name, (weights, config) in cases.items():
        jax_probe = flax_train.probe(weights, config, x, y)
        torch_probe = torch_train.probe(weights, config, x, y)
        scale = _abs_energy(torch_probe["activations"], config.M_scale)
        lam = config.lambda_0 * math.exp(-min(config.alpha * torch_probe["task_grad_norm_sq"], 70))
        diffs = {
            "activations": float(
                np.max(np.abs(jax_probe["activations"] - torch_probe["activations"]))
                / max(np.max(np.abs(torch_probe["activations"])), 1e-30)
            ),
            "g": abs(jax_probe["task_grad_norm_sq"] - torch_probe["task_grad_norm_sq"])
            / max(torch_probe["task_grad_norm_sq"], 1e-30),
            "energy": abs(jax_probe["energy"] - torch_probe["energy"]) / scale,
            "λ·S": abs(jax_probe["lambda_energy"] - torch_probe["lambda_energy"]) / (lam * scale),
        }
        passed = diffs["energy"] <= TOLERANCE and diffs["λ·S"] <= TOLERANCE
        rows.append({"case": name, "M": config.M_scale, **diffs, "passed": passed})
    return rows


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def summary_table(histories: dict[str, History]) -> str:
    """One Markdown row per arm: test accuracy and loss (mean ± std), final λ_t, median ‖h‖."""
    rows = []
    for label, history in histories.items():
        acc, loss = mean_std(history.test_acc), mean_std(history.test_loss)
        lam = history.lambda_t[:, -1].mean()
        rows.append(
            [
                label,
                str(len(history.test_acc)),
                f"{100 * acc[0]:.2f} ± {100 * acc[1]:.2f}",
                f"{loss[0]:.4f} ± {loss[1]:.4f}",
                f"{lam:.4g}" if lam > 0 else "—",
                f"{np.median(history.test_norms):.3g}",
            ]
        )
    header = ["arm", "seeds", "test acc %", "test loss", "final λ_t", "median ‖h_i‖ (test)"]
    return _md_table(header, rows)


def parity_table(rows: list[dict[str, Any]]) -> str:
    """The parity check as Markdown: relative differences, JAX vs PyTorch."""
    header = ["weights", "M", "activations", "‖∇L‖²", "energy S", "λ·S", f"≤ {TOLERANCE:g}"]
    body = [
        [
            row["case"],
            f"{row['M']:g}",
            *(f"{row[k]:.2e}" for k in ("activations", "g", "energy", "λ·S")),
            "PASS" if row["passed"] else "FAIL",
        ]
        for row in rows
    ]
    return _md_table(header, body)


def make_plots(histories: dict[str, History], torch_history: History, out_dir: Path) -> list:
    """The three figures of the demo."""
    panels = [
        ConfinementPanel(
            f"{label} vs none",
            ARMS[label].M_scale,
            {label: histories[label].test_norms, "none": histories["none"].test_norms},
        )
        for label in ("CosmoReg", "CosmoReg M=2")
    ]
    published = histories["CosmoReg"]
    return [
        plot_confinement(panels, out_dir / "confinement.png"),
        plot_lambda_dynamics(
            np.concatenate([published.lambda_t, torch_history.lambda_t]),
            np.concatenate([published.task_grad_norm_sq, torch_history.task_grad_norm_sq]),
            PUBLISHED.lambda_0,
            PUBLISHED.alpha,
            out_dir / "lambda_dynamics.png",
            [f"JAX seed {seed}" for seed in range(len(published.lambda_t))] + ["PyTorch seed 0"],
        ),
        plot_curves(
            histories,
            out_dir / "ab.png",
            "digits MLP, Adam 1e-3: CosmoReg (published defaults, and M=2) vs L2 vs none",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the demo; return the histories, the parity rows and the paths written."""
    args = parse_args(argv)
    start = time.perf_counter()
    split = load_split()
    seeds = list(range(args.seeds))
    print(f"CosmoReg demo: digits MLP, {args.seeds} seeds × {args.epochs} epochs per arm")
    histories = train_arms(args.epochs, seeds, split)

    torch_start = time.perf_counter()
    torch_config = dataclasses.replace(PUBLISHED, epochs=args.epochs)
    torch_history = torch_train.train(torch_config, [0], split=split, log=False)
    print(
        f"  [torch] {torch_config.label:38s} 1 seed  × {args.epochs} epochs "
        f"{time.perf_counter() - torch_start:5.1f} s   test acc {torch_history.test_acc[0]:.4f}"
    )

    rows = parity_rows(
        {
            "torch-trained CosmoReg": (torch_history.weights[0], PUBLISHED),
            "torch-trained CosmoReg, at M=2": (torch_history.weights[0], CONFINED),
            "jax-trained CosmoReg M=2": (histories["CosmoReg M=2"].weights[0], CONFINED),
        },
        split,
    )
    paths = make_plots(histories, torch_history, args.out_dir)
    table = summary_table({**histories, "CosmoReg (PyTorch)": torch_history})
    parity = parity_table(rows)
    passed = all(row["passed"] for row in rows)
    elapsed = time.perf_counter() - start

    verdict = "PASS" if passed else "FAIL"
    print(f"\n## Summary (test set, {args.epochs} epochs)\n\n{table}\n")
    print(f"## Parity, JAX vs PyTorch (same weights, validation set)\n\n{parity}\n")
    print(f"parity check: {verdict}")
    summary = "\n\n".join(
        [
            "# CosmoReg demo",
            f"`python examples/full_demo.py{' --quick' if args.quick else ''}`: digits MLP "
            f"(64 → {PUBLISHED.hidden} ReLU, tapped → 10), Adam {PUBLISHED.learning_rate:g}, "
            f"batch {PUBLISHED.batch_size}, {args.epochs} epochs, seeds {seeds}; "
            f"wall time {elapsed:.0f} s. L2 is coupled weight decay (Adam(weight_decay=λ)).",
            "## Summary (test set)",
            table,
            "## Parity, JAX vs PyTorch (relative to Σ|φ(s_i)|)",
            parity,
            f"parity check: {verdict}",
            "Figures: " + ", ".join(f"`{p.name}`" for p in paths),
        ]
    )
    (args.out_dir / "demo_summary.md").write_text(summary + "\n")
    print(f"wrote {', '.join(str(p) for p in paths)} and {args.out_dir / 'demo_summary.md'}")
    print(f"demo finished in {elapsed:.0f} s")
    return {"histories": histories, "torch": torch_history, "parity": rows, "passed": passed}


if __name__ == "__main__":
    main()
