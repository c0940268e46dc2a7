"""Checkpoint and resume: 20 steps, save, restore in a fresh process, 20 more steps give the
parameters of 40 uninterrupted steps bit for bit, in both frameworks.

JAX saves ``{"params", "opt_state"}`` (the ``CosmoRegState`` included) with
``flax.serialization``; PyTorch saves the ``state_dict`` of the model, the optimizer and
``CosmoReg``. Each run is a fresh subprocess of ``tests/_checkpoint_worker.py``; the resumed one
starts from other initial weights, so that only the checkpoint can make it agree.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("_checkpoint_worker.py")


def run(framework, mode, directory):
    proc = subprocess.run(
        [sys.executable, str(WORKER), framework, mode, str(directory)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(np.load(directory / f"{mode}.npz"))


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_resume_in_a_fresh_process_is_bit_identical(framework, tmp_path):
    full = run(framework, "full", tmp_path)
    resumed = run(framework, "resume", tmp_path)
    assert full.keys() == resumed.keys() and len(full) >= 3
    for name, value in full.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    # Training moved λ_t away from its initial Λ0, so the comparison covers a restored λ.
    assert full["lambda_t"] != np.float32(0.5)
