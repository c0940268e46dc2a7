"""CosmoReg under DistributedDataParallel: 2 ``gloo`` ranks on CPU equal 1 process, full batch.

The two ranks run ``tests/_torch_dp_worker.py`` as subprocesses (localhost, a free port); the
reference is the same training loop in this process, on the concatenated batch, without any
process group. Each rank sees half of every batch, so a λ_t taken from a rank's own gradients
would differ from the reference's (checked below), and so would the parameters.
"""

import socket
import subprocess
import sys
from pathlib import Path

import _torch_dp_worker as worker
import numpy as np
import pytest

WORLD = 2
RTOL = 1e-10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """The saved trajectories of both ranks."""
    out = tmp_path_factory.mktemp("ddp")
    port = str(free_port())
    script = str(Path(worker.__file__))
    procs = [
        subprocess.Popen(
            [sys.executable, script, str(rank), str(WORLD), port, str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD)
    ]
    for proc in procs:
        log, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, log
    return [dict(np.load(out / f"rank{rank}.npz")) for rank in range(WORLD)]


def reference(scenario, **kwargs):
    return worker.train(scenario, worker.make_model(), lambda t: t, **kwargs)


def assert_close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * 1e-2, err_msg=what)


@pytest.mark.parametrize("scenario", ["sgd", "adam", "sgd_amortized", "adam_amortized"])
def test_ddp_equals_one_process_on_the_full_batch(ranks, scenario):
    expected = reference(scenario)
    for rank, saved in enumerate(ranks):
        assert_close(saved[f"{scenario}/params"], expected["params"], f"params, rank {rank}")
        assert_close(saved[f"{scenario}/lambda"], expected["lambda"], f"lambda, rank {rank}")
    # Each rank's loss is its half's mean; their mean is the full batch's.
    mean_loss = np.mean([saved[f"{scenario}/loss"] for saved in ranks], axis=0)
    assert_close(mean_loss, expected["loss"], "loss")
    for key in ("params", "lambda"):
        np.testing.assert_array_equal(ranks[0][f"{scenario}/{key}"], ranks[1][f"{scenario}/{key}"])
    # λ_t moves during training and is not at its bounds, so a wrong g would show.
    assert (
        1e-3 * worker.LAMBDA_0
        < expected["lambda"].min()
        < expected["lambda"].max()
        < 0.99 * (worker.LAMBDA_0)
    )


def test_a_rank_alone_would_get_another_lambda(ranks):
    # The first refresh's λ from rank 0's half of the batch only: what a naive setup would use.
    local = worker.train("sgd", worker.make_model(), lambda t: t[: worker.GLOBAL_BATCH // WORLD])
    assert abs(local["lambda"][0] / ranks[0]["sgd/lambda"][0] - 1) > 1e-3


def test_sum_energy_is_the_global_sum_divided_by_world_size(ranks):
    # (1/W)·Σ_r S_r with S_r the rank's sum: the single-process sum energy scaled by 1/W.
    expected = reference("sgd_sum", energy_scale=1 / WORLD)
    assert_close(ranks[0]["sgd_sum/params"], expected["params"], "params")
    assert_close(ranks[1]["sgd_sum/lambda"], expected["lambda"], "lambda")


def test_a_nan_on_one_rank_skips_the_step_on_every_rank(ranks):
    expected = reference("adam_skip_nan", skip_steps=(worker.NAN_STEP,))
    kept = [step for step in range(worker.STEPS) if step != worker.NAN_STEP]
    for saved in ranks:
        stepped = saved["adam_skip_nan/stepped"]
        assert not stepped[worker.NAN_STEP] and stepped[kept].all()
        assert saved["adam_skip_nan/skipped_steps"] == 1
        assert saved["adam_skip_nan/count"] == worker.STEPS - 1
        # The skipped step leaves the parameters as they were.
        np.testing.assert_array_equal(
            saved["adam_skip_nan/params"][worker.NAN_STEP],
            saved["adam_skip_nan/params"][worker.NAN_STEP - 1],
        )
        assert_close(saved["adam_skip_nan/params"][kept], expected["params"], "params")
        assert_close(saved["adam_skip_nan/lambda"][kept], expected["lambda"], "lambda")


@pytest.mark.parametrize(
    ("wrapper", "kind"),
    [
        ("fully_shard", "DTensor"),
        ("fsdp1", "FlatParameter"),
        ("fsdp1_orig_params", "FlatParameter"),
    ],
)
def test_fsdp_parameters_are_rejected(ranks, wrapper, kind):
    for saved in ranks:
        message = str(saved[f"fsdp/{wrapper}"])
        assert "does not support FSDP-sharded parameters" in message
        assert kind in message
