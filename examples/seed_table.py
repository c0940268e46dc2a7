"""The published CosmoReg results table, rerun on your own copy of the data.

Published numbers (test accuracy / test loss, each from a single run):

    Fashion-MNIST, MobileNetV2   CosmoReg                 89.01% / 0.3060
                                 L2 (λ=0.001)             88.77% / 0.3405
    IMDB, Transformer            CosmoReg, no LayerNorm   86.43% / 0.3617
                                 LayerNorm                85.76% / 0.4110

Being single runs, they say little about the spread between seeds; ``--seeds N`` trains each arm
N times (seeds 0..N−1) and reports mean ± sample standard deviation.

Data (nothing is downloaded; ``--data-dir`` must hold):

* fashion-mnist: ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
  ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz`` (the standard gzipped IDX files).
* imdb: ``imdb.npz`` in the Keras layout (``x_train``, ``y_train``, ``x_test``, ``y_test``),
  encoded as ``keras.datasets.imdb.load_data(num_words=20000)`` and padded to 200 tokens.

Arms (CosmoReg with the published Λ0 = 0.01, α = 0.05, M = 1, on the pooled features; Adam
with learning rate 1e-3 everywhere):

* fashion-mnist: a compact MobileNetV2 (GroupNorm in place of batch norm), CosmoReg vs L2, which
  adds 0.001·Σθ² over the weight matrices and conv kernels to the loss (Keras's
  ``kernel_regularizer=l2(0.001)``; biases and norm scales are not decayed).
* imdb: a two-block Transformer encoder, CosmoReg without LayerNorm vs LayerNorm without
  CosmoReg.

The models are this repository's reconstructions, the same in PyTorch (``--framework torch``,
the default, on CUDA when available) and JAX (``--framework jax``, on JAX's default backend), so
expect numbers near the published ones rather than equal to them.

Example::

    python examples/seed_table.py --dataset fashion-mnist --data-dir ~/data/fashion-mnist \\
        --framework jax --seeds 3 --out fmnist.json
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from seedtable.data import Dataset, load_fashion_mnist, load_imdb
from seedtable.experiments import EXPERIMENTS, MAXLEN, VOCAB_SIZE, Arm, Result, TrainConfig, limited

TRAINERS = {"torch": "seedtable.train_torch", "jax": "seedtable.train_flax"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", required=True, choices=sorted(EXPERIMENTS))
    parser.add_argument("--data-dir", required=True, type=Path, help="folder with the data files")
    parser.add_argument("--framework", default="torch", choices=sorted(TRAINERS))
    parser.add_argument("--seeds", type=positive, default=1, help="runs per arm (default 1)")
    parser.add_argument("--epochs", type=positive, default=10, help="default 10")
    parser.add_argument("--batch-size", type=positive, default=64, help="default 64")
    parser.add_argument("--limit", type=positive, help="use only the first N training examples")
    parser.add_argument(
        "--width",
        type=float,
        default=1.0,
        help="multiplies the models' channel counts and widths (default 1; less for smoke tests)",
    )
    parser.add_argument(
        "--depth",
        type=float,
        default=1.0,
        help="multiplies the models' numbers of blocks (default 1; less for smoke tests)",
    )
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def load(dataset: str, data_dir: Path) -> Dataset:
    if dataset == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    return load_imdb(data_dir, maxlen=MAXLEN, vocab_size=VOCAB_SIZE)


def summary(arm: Arm, results: list[Result]) -> dict[str, Any]:
    """One table row: mean and sample standard deviation (None for one seed) over seeds."""
    accuracies = [r.accuracy for r in results]
    losses = [r.loss for r in results]

    def std(values: list[float]) -> float | None:
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    return {
        "arm": arm.name,
        "parameters": results[0].parameters,
        "seeds": len(results),
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_std": std(accuracies),
        "loss_mean": float(np.mean(losses)),
        "loss_std": std(losses),
        "accuracies": accuracies,
        "losses": losses,
        "published_accuracy": arm.published_accuracy,
        "published_loss": arm.published_loss,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report's rows as a Markdown table (accuracies in %)."""

    def pm(mean: float, std: float | None, scale: float, digits: int) -> str:
        spread = "—" if std is None else f"{scale * std:.{digits}f}"
        return f"{scale * mean:.{digits}f} ± {spread}"

    lines = [
        f"{report['dataset']}, {report['model']}: {report['framework']} on {report['device']}, "
        f"{report['epochs']} epochs, {report['train_examples']} training examples",
        "",
        "| arm | parameters | seeds | test accuracy (%) | test loss "
        "| published accuracy (%) | published loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['arm']} | {row['parameters']:,} | {row['seeds']} "
            f"| {pm(row['accuracy_mean'], row['accuracy_std'], 100, 2)} "
            f"| {pm(row['loss_mean'], row['loss_std'], 1, 4)} "
            f"| {100 * row['published_accuracy']:.2f} | {row['published_loss']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the table, print it, write it to ``--out`` if given, and return it."""
    args = parse_args(argv)
    experiment = EXPERIMENTS[args.dataset]
    data = limited(load(args.dataset, args.data_dir), args.limit)
    trainer = importlib.import_module(TRAINERS[args.framework])  # imports only that framework
    config = TrainConfig(args.epochs, args.batch_size, args.width, args.depth)
    rows = [
        summary(
            arm, [trainer.run(experiment, arm, data, config, seed) for seed in range(args.seeds)]
        )
        for arm in experiment.arms
    ]
    report = {
        "dataset": args.dataset,
        "model": experiment.model,
        "framework": args.framework,
        "device": str(trainer.device()),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "width": args.width,
        "depth": args.depth,
        "train_examples": len(data.y_train),
        "rows": rows,
    }
    print(markdown(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


if __name__ == "__main__":
    main()
