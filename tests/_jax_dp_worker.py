"""The JAX data-parallel runs (a script, run with 4 host devices by the test).

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/_jax_dp_worker.py OUT.npz

trains ``examples/flax_data_parallel.py``'s MLP for ``STEPS`` steps on the same global batches
on a 1×1 mesh (one device, the reference), a 4×1 mesh (batch over 4 devices) and a 2×2 mesh
(batch over 2, parameters FSDP-sharded over 2), in float32 and float64, and saves each run's
final parameters, per-step λ_t and losses, and the parameter shardings it ended with.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import flax_data_parallel as example  # noqa: E402

import cosmoreg_jax  # noqa: E402

STEPS, GLOBAL_BATCH, FEATURES, HIDDEN, CLASSES = 20, 32, 8, 16, 4
MESHES = {"1x1": (1, 1), "4x1": (4, 1), "2x2": (2, 2)}


def batches(dtype: np.dtype) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (
            (2.0 * rng.standard_normal((GLOBAL_BATCH, FEATURES))).astype(dtype),
            rng.integers(0, CLASSES, GLOBAL_BATCH).astype(np.int32),
        )
        for _ in range(STEPS)
    ]


def run(mesh_shape: tuple[int, int], dtype: np.dtype) -> dict[str, np.ndarray]:
    graphdef, params = nnx.split(
        example.MLP(FEATURES, HIDDEN, CLASSES, rngs=nnx.Rngs(0)), nnx.Param
    )
    params = jax.tree.map(lambda p: p.astype(dtype), params)
    tx = optax.chain(cosmoreg_jax.cosmoreg(0.5, 1.0), optax.adam(0.05))
    mesh = example.make_mesh(*mesh_shape)
    params, _, logs = example.train(mesh, graphdef, params, tx, batches(dtype))
    leaves = jax.tree.leaves(params)
    return {
        "params": np.concatenate([np.asarray(p).ravel() for p in leaves]),
        "logs": np.asarray(logs),
        "sharded": np.asarray([len(p.sharding.device_set) > 1 for p in leaves]),
        "model_axis": np.asarray(
            ["model" in (p.sharding.spec or ()) for p in leaves]  # FSDP-sharded leaves
        ),
    }


def main(out: str) -> None:
    assert jax.device_count() == 4, jax.devices()
    results = {}
    for dtype in (np.float32, np.float64):
        for name, shape in MESHES.items():
            for key, value in run(shape, dtype).items():
                results[f"{np.dtype(dtype).name}/{name}/{key}"] = value
    np.savez(out, **results)


if __name__ == "__main__":
    main(sys.argv[1])
