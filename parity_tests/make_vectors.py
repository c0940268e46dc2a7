"""Write the shared parity inputs to ``parity_tests/vectors/`` (deterministic: run it to check).

Each ``case_NNN.npz`` holds ``h`` (float64 activations) and ``meta`` (a JSON string: the
hyper-parameters, ``g``, the reduction and the layout). Layout ``"NCHW"`` reduces the channel
axis: ``dim=1`` in PyTorch, and ``axis=-1`` in JAX after a transpose to NHWC.

    python -m parity_tests.make_vectors [OUT_DIR]
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

VECTORS_DIR = Path(__file__).parent / "vectors"
SHAPES = {"BD": (8, 16), "BTD": (4, 5, 12), "NCHW": (2, 6, 4, 5)}
SCALES = (1e-4, 1e-2, 1.0, 1e2, 1e4)
M_SCALES = (0.5, 1.0, 2.0, 10.0)
GS = (0.0, 3.7, 5000.0)  # 5000·α ≥ 70 for every α below: the clamp is hit
REDUCTIONS = ("sum", "mean")
LAMBDAS_ALPHAS = ((0.01, 0.05), (0.05, 0.2))


def _vector_axis(layout: str) -> int:
    return 1 if layout == "NCHW" else -1


def _cases() -> list[tuple[dict, np.ndarray]]:
    cases = []
    rng = np.random.default_rng(20261203)
    grid = itertools.product(SHAPES, (*SCALES, "zero_rows", "huge_row"), M_SCALES)
    for i, (layout, scale, M_scale) in enumerate(grid):
        h = rng.standard_normal(SHAPES[layout])
        if scale == "zero_rows":
            rows = np.moveaxis(h, _vector_axis(layout), -1)  # a view: writes go to h
            rows[..., :] *= (rng.random(rows.shape[:-1]) < 0.5)[..., None]
        elif scale == "huge_row":
            rows = np.moveaxis(h, _vector_axis(layout), -1)
            rows[(0,) * (rows.ndim - 1)] *= 1e4
        else:
            h = h * scale
        lambda_0, alpha = LAMBDAS_ALPHAS[i % 2]
        meta = {
            "name": f"{layout}-{scale if isinstance(scale, str) else f'{scale:g}'}-M{M_scale:g}",
            "layout": layout,
            "M_scale": M_scale,
            "lambda_0": lambda_0,
            "alpha": alpha,
            "g": GS[i % 3],
            "reduction": REDUCTIONS[(i // 3) % 2],
        }
        cases.append((meta, h))
    return cases


def write(out_dir: Path = VECTORS_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (meta, h) in enumerate(_cases()):
        path = out_dir / f"case_{i:03d}.npz"
        np.savez(path, h=h, meta=np.array(json.dumps(meta, sort_keys=True)))
        paths.append(path)
    return paths


def load(vectors_dir: Path = VECTORS_DIR) -> list[tuple[dict, np.ndarray]]:
    """The committed cases, in order, as (meta, h)."""
    cases = []
    for path in sorted(vectors_dir.glob("case_*.npz")):
        with np.load(path, allow_pickle=False) as data:
            cases.append((json.loads(str(data["meta"])), data["h"]))
    return cases


if __name__ == "__main__":
    written = write(Path(sys.argv[1]) if len(sys.argv) > 1 else VECTORS_DIR)
    print(f"wrote {len(written)} cases to {written[0].parent}")
