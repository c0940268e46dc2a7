"""Print the parity table, case by case, and exit non-zero if any difference is out of tolerance.

python -m parity_tests.report [--all]      # --all prints every row, not one per case/dtype
"""

from __future__ import annotations

import argparse
import sys

import jax

jax.config.update("jax_enable_x64", True)

from parity_tests import harness, make_vectors  # noqa: E402


def training_report(steps: int = 50) -> list[harness.Row]:
    """Rows comparing 50-step JAX and PyTorch training trajectories (worst step per quantity)."""
    from parity_tests import training

    print(f"Training parity: JAX (Flax NNX + optax) vs PyTorch, {steps} steps, worst step")
    columns = ["run", "dtype", *training.QUANTITIES, "tolerance"]
    print("| " + " | ".join(f"{c:<21}" if i == 0 else f"{c:<9}" for i, c in enumerate(columns)))
    print("|" + "|".join("---" for _ in columns) + "|")
    rows = []
    for refresh_every in (1, 10):
        for arch in training.ARCHS:
            for opt in training.OPTIMIZERS:
                for dtype, tol in training.TOLERANCES.items():
                    args = (arch, opt, dtype, steps, refresh_every)
                    diffs = training.max_relative_differences(
                        training.run_torch(*args), training.run_jax(*args)
                    )
                    name = f"{arch}-{opt}-k{refresh_every}"
                    cells = " | ".join(f"{diffs[q]:9.2e}" for q in training.QUANTITIES)
                    print(f"| {name:<21} | {dtype:<9} | {cells} | {tol:9.0e} |")
                    rows += [
                        harness.Row(name, dtype, q, "torch-jax", d, d, tol)
                        for q, d in diffs.items()
                    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="print every quantity and pair")
    args = parser.parse_args(argv)

    rows = [
        row
        for meta, h in make_vectors.load()
        for dtype in harness.DTYPES
        for row in harness.evaluate(meta, h, dtype)
    ]
    header = f"| {'case':<22} | {'dtype':<8} | {'quantity':<8} | {'worst pair':<12} "
    header += "| max abs diff | max rel diff | tolerance | ok |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    groups: dict[tuple[str, str, str], list[harness.Row]] = {}
    for row in rows:
        groups.setdefault((row.case, row.dtype, row.quantity), []).append(row)
    for group in groups.values():
        shown = group if args.all else [max(group, key=lambda r: r.max_rel / r.tol)]
        for r in shown:
            print(
                f"| {r.case:<22} | {r.dtype:<8} | {r.quantity:<8} | {r.pair:<12} "
                f"| {r.max_abs:12.3e} | {r.max_rel:12.3e} | {r.tol:9.1e} | "
                f"{'ok' if r.ok else 'FAIL':<2} |"
            )
    print()
    training_rows = training_report()
    rows += training_rows
    failed = [r for r in rows if not r.ok]
    worst = {d: max(r.max_rel / r.tol for r in rows if r.dtype == d) for d in harness.DTYPES}
    print()
    print(f"{len(rows)} comparisons over {len(groups)} (case, dtype, quantity) groups")
    for dtype, ratio in worst.items():
        print(f"  {dtype:<8}: worst difference = {ratio:.3g} × tolerance")
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
