"""The evidence suite (``make evidence``): the published CosmoReg claims, tested on the digits.

Protocol. The fixed train/validation/test split of ``digits.py``; every arm trains the same
seeds (a seed fixes the initial weights and the batch order, so arms are paired by seed) for
the same epochs with Adam 1e-3, batch 64. Hyper-parameters (the L2 weight decay, CosmoReg's
Λ0 and M) are chosen on the validation set only (highest mean final validation accuracy, ties
broken by the lower validation loss); the numbers reported are on the test set, at the final
epoch. Paired differences are per seed, with a 95% t-interval.

* Vision, MLP and CNN: CosmoReg vs L2 weight decay (coupled, as ``torch.optim.Adam``'s
  ``weight_decay``; the published λ = 0.001 and a sweep) vs no regularizer.
* Sequence, a post-LN Transformer on the images read as 8 tokens of 8 pixels: CosmoReg without
  LayerNorm vs LayerNorm vs both (and neither, as a control).

Claims: (a) CosmoReg beats L2 (λ = 0.001) on image classification; (b) CosmoReg can replace
LayerNorm in a Transformer; (c) λ_t adapts: small while task gradients are large, rising as
training settles; (d) activation norms concentrate near the stable radius r_s (M > √2).

    python examples/evidence.py            # ~10–15 minutes on 2 CPU cores
    python examples/evidence.py --quick    # 2 seeds × 2 epochs, a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flax_train
import numpy as np
from architectures import CNN, Transformer
from config import History, RunConfig
from digits import Split, load_split
from plots import ConfinementPanel, plot_confinement, plot_curves, plot_lambda_dynamics
from stats import PairedDiff, fraction_near, mean_std, paired_diff

from cosmoreg_jax.theory import stable_radius

PUBLISHED = RunConfig(reg="cosmoreg")  # Λ0 = 0.01, α = 0.05, M = 1
L2_PUBLISHED = 1e-3
CONFINED_M = 2.0
VISION = ("MLP", "CNN")


@dataclass(frozen=True)
class Protocol:
    """Seeds, epochs and the sweeps; ``quick`` is the smoke-test size."""

    seeds: tuple[int, ...]
    epochs: dict[str, int]  # per model family trained
    l2_sweep: tuple[float, ...]
    cosmoreg_sweep: tuple[tuple[float, float], ...]  # (Λ0, M)

    @classmethod
    def make(cls, quick: bool) -> Protocol:
        """The full protocol (~12 minutes on 2 loaded CPU cores), or the smoke-test one."""
        published = (PUBLISHED.lambda_0, PUBLISHED.M_scale)
        confined = (PUBLISHED.lambda_0, CONFINED_M)
        if quick:  # no CNN: its compilation alone takes longer than the rest
            epochs = {"MLP": 2, "Transformer": 2}
            return cls((0, 1), epochs, (L2_PUBLISHED,), (published, confined))
        sweep = ((1e-3, PUBLISHED.M_scale), (1e-3, CONFINED_M), published, confined)
        epochs = {"MLP": 30, "CNN": 15, "Transformer": 30}
        return cls(tuple(range(6)), epochs, (1e-4, L2_PUBLISHED, 1e-2), sweep)


@dataclass(frozen=True)
class Arm:
    """One configuration of one model family, trained on every seed."""

    family: str
    name: str
    kind: str  # "cosmoreg", "l2", "none", or the Transformer's "layernorm"
    config: RunConfig
    model_fn: Callable | None


def _cosmoreg_name(lambda_0: float, M_scale: float) -> str:
    return f"CosmoReg Λ0={lambda_0:g} M={M_scale:g}"


def vision_arms(family: str, model_fn: Callable | None, protocol: Protocol) -> list[Arm]:
    """none, L2 over its sweep, CosmoReg over its sweep (the published α)."""
    base = RunConfig(epochs=protocol.epochs[family])
    arms = [Arm(family, "none", "none", dataclasses.replace(base, reg="none"), model_fn)]
    for wd in protocol.l2_sweep:
        config = dataclasses.replace(base, reg="l2", weight_decay=wd)
        arms.append(Arm(family, f"L2 λ={wd:g}", "l2", config, model_fn))
    for lambda_0, m in protocol.cosmoreg_sweep:
        config = dataclasses.replace(base, reg="cosmoreg", lambda_0=lambda_0, M_scale=m)
        arms.append(Arm(family, _cosmoreg_name(lambda_0, m), "cosmoreg", config, model_fn))
    return arms


WITH_LN = functools.partial(Transformer, True)
WITHOUT_LN = functools.partial(Transformer, False)


def sequence_arms(protocol: Protocol) -> list[Arm]:
    """LayerNorm, neither, and CosmoReg without LayerNorm over its sweep."""
    family = "Transformer"
    base = RunConfig(epochs=protocol.epochs[family], reg="none")
    arms = [
        Arm(family, "LayerNorm", "layernorm", base, WITH_LN),
        Arm(family, "neither", "none", base, WITHOUT_LN),
    ]
    for lambda_0, m in protocol.cosmoreg_sweep:
        config = dataclasses.replace(base, reg="cosmoreg", lambda_0=lambda_0, M_scale=m)
        arms.append(
            Arm(family, f"{_cosmoreg_name(lambda_0, m)}, no LN", "cosmoreg", config, WITHOUT_LN)
        )
    return arms


def both_arm(selected: Arm) -> Arm:
    """The selected CosmoReg configuration with LayerNorm kept ("both")."""
    name = selected.name.replace(", no LN", " + LN")
    return Arm(selected.family, name, "cosmoreg+ln", selected.config, WITH_LN)


def run_arms(arms: Sequence[Arm], seeds: Sequence[int], split: Split) -> dict[str, History]:
    """Train every arm (all seeds at once), printing one progress line per arm."""
    histories = {}
    for i, arm in enumerate(arms, 1):
        start = time.perf_counter()
        history = flax_train.train(arm.config, seeds, model_fn=arm.model_fn, split=split, log=False)
        histories[arm.name] = history
        val_acc, test_acc = history.val_acc[:, -1].mean(), history.test_acc.mean()
        print(
            f"  [{arm.family} {i}/{len(arms)}] {arm.name:32s} {time.perf_counter() - start:5.1f} s"
            f"  val acc {val_acc:.4f}  test acc {test_acc:.4f}",
            flush=True,
        )
    return histories


def select(histories: dict[str, History], arms: Sequence[Arm], kind: str) -> str:
    """The arm of ``kind`` with the highest mean final validation accuracy (then lowest loss)."""
    candidates = [arm.name for arm in arms if arm.kind == kind]
    return max(
        candidates,
        key=lambda name: (
            histories[name].val_acc[:, -1].mean(),
            -histories[name].val_loss[:, -1].mean(),
        ),
    )


def compare(a: History, b: History) -> dict[str, PairedDiff]:
    """Per-seed paired test differences a − b: accuracy and loss."""
    return {
        "acc": paired_diff(a.test_acc, b.test_acc),
        "loss": paired_diff(a.test_loss, b.test_loss),
    }


def verdict(diffs: dict[str, PairedDiff]) -> str:
    """Supported if an interval favours CosmoReg (accuracy up or loss down) and none the
    baseline; not supported if one favours the baseline and none CosmoReg; else inconclusive."""
    favours = {diffs["acc"].sign, -diffs["loss"].sign} - {0}
    if favours == {1}:
        return "supported"
    if favours == {-1}:
        return "not supported"
    return "inconclusive at this scale"


def combine(verdicts: dict[str, str]) -> str:
    """One verdict for a claim tested on several models; per model when they differ."""
    distinct = set(verdicts.values())
    if len(distinct) == 1:
        return distinct.pop()
    detail = "; ".join(f"{family}: {v}" for family, v in verdicts.items())
    return f"inconclusive at this scale (mixed: {detail})"


# --- claims ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A CosmoReg arm against a baseline arm of the same family."""

    family: str
    cosmoreg: str
    baseline: str
    diffs: dict[str, PairedDiff]

    def row(self) -> list[str]:
        return [
            self.family,
            self.cosmoreg,
            self.baseline,
            self.diffs["acc"].format(100),
            self.diffs["loss"].format(1, 4),
            verdict(self.diffs),
        ]


def _pair(histories: dict[str, History], family: str, a: str, b: str) -> Comparison:
    return Comparison(family, a, b, compare(histories[a], histories[b]))


def _unique(comparisons: list[Comparison]) -> list[Comparison]:
    """Drop repeated pairs (e.g. when the selected arm is the published one)."""
    return list({(c.family, c.cosmoreg, c.baseline): c for c in comparisons}.values())


def claim_a(
    results: dict[str, dict[str, History]], arms: dict[str, list[Arm]]
) -> tuple[str, str, list[Comparison]]:
    """CosmoReg (selected on validation) vs L2 λ = 0.001, plus the published and tuned pairs."""
    comparisons, primary = [], []
    published = _cosmoreg_name(PUBLISHED.lambda_0, PUBLISHED.M_scale)
    l2_name = f"L2 λ={L2_PUBLISHED:g}"
    for family in (f for f in VISION if f in results):
        histories = results[family]
        best_cr = select(histories, arms[family], "cosmoreg")
        best_l2 = select(histories, arms[family], "l2")
        main = _pair(histories, family, best_cr, l2_name)
        primary.append(main)
        comparisons += [main, _pair(histories, family, best_cr, best_l2)]
        if published in histories:
            comparisons.append(_pair(histories, family, published, l2_name))
        comparisons.append(_pair(histories, family, best_cr, "none"))
    measured = "; ".join(
        f"{c.family}: {c.cosmoreg} − {c.baseline} = {c.diffs['acc'].format(100)} pts accuracy, "
        f"{c.diffs['loss'].format(1, 4)} loss"
        for c in primary
    )
    return measured, combine({c.family: verdict(c.diffs) for c in primary}), _unique(comparisons)


def claim_b(histories: dict[str, History], arms: list[Arm]) -> tuple[str, str, list[Comparison]]:
    """CosmoReg without LayerNorm (selected) vs LayerNorm; plus both, neither, published."""
    best_no_ln = select(histories, arms, "cosmoreg")
    best_both = next(arm.name for arm in arms if arm.kind == "cosmoreg+ln")
    main = _pair(histories, "Transformer", best_no_ln, "LayerNorm")
    comparisons = [main, _pair(histories, "Transformer", best_both, "LayerNorm")]
    published = f"{_cosmoreg_name(PUBLISHED.lambda_0, PUBLISHED.M_scale)}, no LN"
    if published in histories:
        comparisons.append(_pair(histories, "Transformer", published, "LayerNorm"))
    comparisons.append(_pair(histories, "Transformer", "neither", "LayerNorm"))
    comparisons.append(_pair(histories, "Transformer", best_no_ln, "neither"))
    acc = main.diffs["acc"]
    non_inferior = "yes" if acc.low > -0.01 else "no"
    measured = (
        f"{main.cosmoreg} − LayerNorm = {acc.format(100)} pts accuracy, "
        f"{main.diffs['loss'].format(1, 4)} loss (non-inferior within 1 pt: {non_inferior})"
    )
    return measured, verdict(main.diffs), _unique(comparisons)


def lambda_adaptation(history: History, lambda_0: float) -> dict[str, Any]:
    """λ_t in the first vs the last epoch (per seed), and corr(λ_t, ‖∇L‖²) over the steps."""
    epochs = history.val_loss.shape[1]
    per_epoch = history.lambda_t.reshape(history.lambda_t.shape[0], epochs, -1).mean(axis=-1)
    corr = [
        np.corrcoef(lam, g)[0, 1]
        for lam, g in zip(history.lambda_t, history.task_grad_norm_sq, strict=True)
    ]
    return {
        "early": per_epoch[:, 0] / lambda_0,
        "late": per_epoch[:, -1] / lambda_0,
        "rise": paired_diff(per_epoch[:, -1] / lambda_0, per_epoch[:, 0] / lambda_0),
        "min": float(history.lambda_t.min() / lambda_0),
        "corr": float(np.nanmean(corr)),
        "g_max": float(history.task_grad_norm_sq.max()),
    }


def claim_c(results: dict[str, dict[str, History]]) -> tuple[str, str, list[list[str]]]:
    """From the published-configuration CosmoReg runs of every family."""
    name = _cosmoreg_name(PUBLISHED.lambda_0, PUBLISHED.M_scale)
    rows, verdicts = [], {}
    for family, histories in results.items():
        key = name if family != "Transformer" else f"{name}, no LN"
        stats = lambda_adaptation(histories[key], PUBLISHED.lambda_0)
        small_early = stats["early"].mean() <= 0.5
        rising = stats["rise"].sign > 0
        verdicts[family] = (
            "supported"
            if rising and small_early
            else "not supported"
            if rising or stats["rise"].sign < 0
            else "inconclusive at this scale"
        )
        rows.append(
            [
                family,
                f"{stats['early'].mean():.4f}",
                f"{stats['late'].mean():.4f}",
                stats["rise"].format(1, 4),
                f"{stats['min']:.4f}",
                f"{stats['corr']:+.3f}",
                f"{stats['g_max']:.3g}",
            ]
        )
    measured = "; ".join(f"{r[0]}: λ/Λ0 first epoch {r[1]}, last {r[2]}, min {r[4]}" for r in rows)
    return measured, combine(verdicts), rows


def claim_d(results: dict[str, dict[str, History]]) -> tuple[str, str, list[list[str]]]:
    """Fraction of test norms within ±25% of r_s (M = 2) vs none; and what M = 1 does."""
    r_s = stable_radius(CONFINED_M)
    confined = _cosmoreg_name(PUBLISHED.lambda_0, CONFINED_M)
    published = _cosmoreg_name(PUBLISHED.lambda_0, PUBLISHED.M_scale)
    rows, verdicts = [], {}
    for family in (f for f in VISION if f in results):
        histories = results[family]
        near_cr = fraction_near(histories[confined].test_norms, r_s)
        near_none = fraction_near(histories["none"].test_norms, r_s)
        diff = paired_diff(near_cr, near_none)
        verdicts[family] = (
            "supported"
            if diff.sign > 0 and near_cr.mean() >= 0.5
            else "not supported"
            if diff.sign <= 0 and near_cr.mean() < 0.5
            else "inconclusive at this scale"
        )
        m1 = np.median(histories[published].test_norms, axis=1)
        m_none = np.median(histories["none"].test_norms, axis=1)
        rows.append(
            [
                family,
                f"{near_cr.mean():.3f}",
                f"{near_none.mean():.3f}",
                diff.format(1, 3),
                f"{np.median(histories[confined].test_norms):.3g}",
                f"{m1.mean():.3g}",
                f"{m_none.mean():.3g}",
            ]
        )
    measured = "; ".join(
        f"{r[0]}: {r[1]} of norms within ±25% of r_s={r_s:.3f} with CosmoReg M=2 vs {r[2]} without"
        f" (M=1: median ‖h‖ {r[5]} vs {r[6]} without)"
        for r in rows
    )
    return measured, combine(verdicts), rows


# --- report ----------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def arm_table(histories: dict[str, History], selected: set[str]) -> str:
    """Per arm: validation accuracy (the selection criterion), test accuracy and loss."""
    rows = []
    for name, h in histories.items():
        val, acc, loss = mean_std(h.val_acc[:, -1]), mean_std(h.test_acc), mean_std(h.test_loss)
        rows.append(
            [
                f"**{name}**" if name in selected else name,
                f"{100 * val[0]:.2f}",
                f"{100 * acc[0]:.2f} ± {100 * acc[1]:.2f}",
                f"{loss[0]:.4f} ± {loss[1]:.4f}",
            ]
        )
    return _md_table(
        ["arm", "val acc %", "test acc % (mean ± std)", "test loss (mean ± std)"], rows
    )


def make_plots(
    results: dict[str, dict[str, History]], shown: dict[str, list[str]], out_dir: Path
) -> list[Path]:
    """Validation curves of the compared arms per family, confinement and λ_t dynamics."""
    paths = [
        plot_curves(
            {name: results[family][name] for name in names},
            out_dir / f"evidence_{family.lower()}.png",
            f"{family} on digits (validation)",
        )
        for family, names in shown.items()
    ]
    mlp = results["MLP"]
    confined = _cosmoreg_name(PUBLISHED.lambda_0, CONFINED_M)
    published = _cosmoreg_name(PUBLISHED.lambda_0, PUBLISHED.M_scale)
    panels = [
        ConfinementPanel(
            f"MLP: {name} vs none", m, {name: mlp[name].test_norms, "none": mlp["none"].test_norms}
        )
        for name, m in ((published, PUBLISHED.M_scale), (confined, CONFINED_M))
    ]
    paths.append(plot_confinement(panels, out_dir / "evidence_confinement.png"))
    paths.append(
        plot_lambda_dynamics(
            mlp[published].lambda_t,
            mlp[published].task_grad_norm_sq,
            PUBLISHED.lambda_0,
            PUBLISHED.alpha,
            out_dir / "evidence_lambda.png",
        )
    )
    return paths


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("results"))
    parser.add_argument("--quick", action="store_true", help="2 seeds × 2 epochs (smoke test)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the suite, write ``<out-dir>/evidence.md`` and the figures; return the verdicts."""
    args = parse_args(argv)
    command = " ".join(
        ["python", "examples/evidence.py", *(argv if argv is not None else sys.argv[1:])]
    )
    protocol = Protocol.make(args.quick)
    split = load_split()
    start = time.perf_counter()
    builders = {
        "MLP": lambda: vision_arms("MLP", None, protocol),
        "CNN": lambda: vision_arms("CNN", CNN, protocol),
        "Transformer": lambda: sequence_arms(protocol),
    }
    arms = {family: builders[family]() for family in protocol.epochs}
    total = sum(len(a) for a in arms.values()) + 1  # + the Transformer's "both" arm
    print(f"evidence: {total} arms × {len(protocol.seeds)} seeds, epochs {protocol.epochs}")
    results = {
        family: run_arms(family_arms, protocol.seeds, split) for family, family_arms in arms.items()
    }
    sequence = arms["Transformer"]
    best = next(
        a for a in sequence if a.name == select(results["Transformer"], sequence, "cosmoreg")
    )
    arms["Transformer"].append(both_arm(best))
    results["Transformer"] |= run_arms(arms["Transformer"][-1:], protocol.seeds, split)

    measured_a, verdict_a, comparisons_a = claim_a(results, arms)
    measured_b, verdict_b, comparisons_b = claim_b(results["Transformer"], arms["Transformer"])
    measured_c, verdict_c, rows_c = claim_c(results)
    measured_d, verdict_d, rows_d = claim_d(results)
    claims = [
        (
            "(a) CosmoReg beats L2 weight decay (λ=0.001) on image classification "
            "(published, Fashion-MNIST: 89.01% / 0.3060 vs 88.77% / 0.3405)",
            measured_a,
            verdict_a,
        ),
        (
            "(b) CosmoReg can replace LayerNorm in a Transformer "
            "(published, IMDB: 86.43% / 0.3617 vs 85.76% / 0.4110)",
            measured_b,
            verdict_b,
        ),
        (
            "(c) λ_t adapts: small while task gradients are large, rising as training settles",
            measured_c,
            verdict_c,
        ),
        (
            "(d) confinement: activation norms concentrate near the stable radius",
            measured_d,
            verdict_d,
        ),
    ]
    comparisons = comparisons_a + comparisons_b
    shown = {
        family: sorted(
            {n for c in comparisons if c.family == family for n in (c.cosmoreg, c.baseline)}
        )
        for family in results
    }
    selected = {
        family: {
            select(results[family], family_arms, kind)
            for kind in ("cosmoreg", "l2")
            if any(a.kind == kind for a in family_arms)
        }
        for family, family_arms in arms.items()
    }
    paths = make_plots(results, shown, args.out_dir)
    elapsed = time.perf_counter() - start
    report = render(
        command,
        protocol,
        results,
        selected,
        claims,
        comparisons,
        rows_c,
        rows_d,
        paths,
        elapsed,
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "evidence.md").write_text(report)
    print("\n" + "\n".join(f"{claim}\n  measured: {m}\n  verdict: {v}" for claim, m, v in claims))
    print(f"\nwrote {args.out_dir / 'evidence.md'} ({elapsed:.0f} s)")
    return {"claims": claims, "results": results, "elapsed": elapsed}


def render(
    command: str,
    protocol: Protocol,
    results: dict[str, dict[str, History]],
    selected: dict[str, set[str]],
    claims: Sequence[tuple[str, str, str]],
    comparisons: Sequence[Comparison],
    rows_c: Sequence[Sequence[str]],
    rows_d: Sequence[Sequence[str]],
    paths: Sequence[Path],
    elapsed: float,
) -> str:
    """The Markdown report."""
    verdicts = _md_table(
        ["claim", "measured (CosmoReg − baseline, 95% t-interval)", "verdict"], claims
    )
    pairs = _md_table(
        ["model", "CosmoReg arm", "baseline", "Δ test acc (pts)", "Δ test loss", "verdict"],
        [c.row() for c in comparisons],
    )
    lam = _md_table(
        [
            "model",
            "λ/Λ0 epoch 1",
            "λ/Λ0 last epoch",
            "rise (last − first)",
            "min λ/Λ0",
            "corr(λ_t, ‖∇L‖²)",
            "max ‖∇L‖²",
        ],
        rows_c,
    )
    r_s = stable_radius(CONFINED_M)
    conf = _md_table(
        [
            "model",
            f"within ±25% of r_s={r_s:.3f}, CosmoReg M=2",
            "same, none",
            "paired Δ",
            "median ‖h‖ M=2",
            "median ‖h‖ M=1",
            "median ‖h‖ none",
        ],
        rows_d,
    )
    sections = [
        "# CosmoReg evidence suite",
        f"Command: `{command}`  \nRuntime: {elapsed / 60:.1f} min (wall clock).",
        "## Protocol",
        f"scikit-learn digits (1797 8×8 images), fixed stratified split 60/20/20 (seed 0), "
        f"features standardised on the train set. Seeds {list(protocol.seeds)} per arm; a seed "
        f"fixes the initial weights and the batch order, so every difference is paired by seed. "
        f"Epochs {protocol.epochs}, Adam 1e-3, batch 64, for every arm of a model. L2 is coupled "
        f"weight decay as `torch.optim.Adam(weight_decay=λ)` (gradient + λ·θ), swept over "
        f"{list(protocol.l2_sweep)}; CosmoReg (α = 0.05, energy summed over the batch, as "
        f"published) is swept over (Λ0, M) in {list(protocol.cosmoreg_sweep)}. Selection: "
        "highest mean final validation accuracy (then lowest validation loss), on validation "
        "only; bold arms below are the selected ones. All numbers are test-set, final epoch. "
        "Intervals: 95% t-intervals (scipy.stats.t) of the per-seed paired difference. Verdict "
        "rule: supported if an interval favours CosmoReg (accuracy up or loss down) and none "
        "favours the baseline; not supported if the reverse; otherwise inconclusive. The "
        "published claims were made on Fashion-MNIST and IMDB; this is a much smaller data set "
        "and models, so the verdicts are about this scale.",
        "## Verdicts",
        verdicts,
        "## Paired comparisons (test set)",
        pairs,
    ]
    for family, histories in results.items():
        sections += [f"## {family}: every arm", arm_table(histories, selected[family])]
    sections += [
        "## (c) λ_t dynamics (published configuration Λ0 = 0.01, α = 0.05, M = 1)",
        "λ_t = Λ0·exp(−min(α·g, 70)) is a decreasing function of g = ‖∇L_task‖² by "
        "construction, so its correlation with g is negative by design; what the claim adds is "
        "that λ_t is *small* early (here: λ/Λ0 ≤ 0.5 in epoch 1) and rises later.",
        lam,
        "## (d) Confinement (test-set norms of the tapped layer, Λ0 = 0.01)",
        conf,
        "## Figures",
        "\n".join(f"- `{p.name}`" for p in paths),
    ]
    return "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    main()
