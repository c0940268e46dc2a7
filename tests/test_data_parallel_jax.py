"""Data-parallel CosmoReg in JAX: 4 CPU devices give the 1-device numbers on the same batches.

``tests/_jax_dp_worker.py`` runs in a subprocess, since the device count
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``) must be set before JAX starts. It trains
``examples/flax_data_parallel.py`` unchanged on a 1×1 mesh (the reference), a 4×1 mesh (the
batch split over 4 devices) and a 2×2 mesh (batch over 2, parameters FSDP-sharded over 2).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("_jax_dp_worker.py")
RTOL = {"float32": 1e-5, "float64": 1e-12}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax_dp") / "runs.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(np.load(out))


def assert_rel_close(actual, expected, rtol, what):
    """Max error relative to the largest magnitude of ``expected`` (per column for 2-D)."""
    scale = np.abs(expected).max(axis=0)
    np.testing.assert_array_less(np.abs(actual - expected).max(axis=0), rtol * scale, what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mesh", ["4x1", "2x2"])
def test_sharded_training_equals_one_device(runs, dtype, mesh):
    ref_params, ref_logs = runs[f"{dtype}/1x1/params"], runs[f"{dtype}/1x1/logs"]
    params, logs = runs[f"{dtype}/{mesh}/params"], runs[f"{dtype}/{mesh}/logs"]
    assert params.dtype == ref_params.dtype == np.dtype(dtype)
    assert_rel_close(params, ref_params, RTOL[dtype], "parameters after 20 steps")
    # Columns: task loss, energy, λ_t, after each of the 20 steps.
    assert logs.shape == ref_logs.shape == (20, 3)
    assert_rel_close(logs, ref_logs, RTOL[dtype], "task loss, energy, λ_t per step")


def test_runs_are_really_sharded_and_lambda_moves(runs):
    assert runs["float64/4x1/sharded"].all() and not runs["float64/4x1/model_axis"].any()
    assert runs["float64/2x2/model_axis"].all(), "every parameter sharded over 'model'"
    lam = runs["float64/1x1/logs"][:, 2]
    assert lam.max() - lam.min() > 0.05 * lam.max(), "λ_t changes, so a wrong norm would show"
