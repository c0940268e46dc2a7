"""JAX and PyTorch train identically: whole trajectories, and one update from identical grads."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import cosmoreg_jax
import cosmoreg_torch
from parity_tests import oracle, training

TOLERANCES = training.TOLERANCES


@pytest.mark.parametrize("dtype", list(TOLERANCES))
@pytest.mark.parametrize("optimizer", training.OPTIMIZERS)
@pytest.mark.parametrize("arch", training.ARCHS)
def test_trajectories_match(arch, optimizer, dtype):
    _check_trajectories(arch, optimizer, dtype, refresh_every=1)


@pytest.mark.parametrize(("arch", "optimizer"), [("mlp", "adam"), ("cnn", "sgd")])
def test_amortized_trajectories_match(arch, optimizer):
    for dtype in TOLERANCES:
        _check_trajectories(arch, optimizer, dtype, refresh_every=10)


def _check_trajectories(arch, optimizer, dtype, refresh_every):
    jax_run = training.run_jax(arch, optimizer, dtype, refresh_every=refresh_every)
    torch_run = training.run_torch(arch, optimizer, dtype, refresh_every=refresh_every)
    diffs = training.max_relative_differences(torch_run, jax_run)
    assert all(d <= TOLERANCES[dtype] for d in diffs.values()), diffs
    # The run must exercise CosmoReg: λ moves, and training changes the parameters.
    assert np.ptp(jax_run.lambda_t) > 1e-3 * training.CONFIG["lambda_0"]
    if refresh_every > 1:  # λ_t changes only on refresh steps
        lam = np.asarray(jax_run.lambda_t)
        stale = [i for i in range(1, len(lam)) if i % refresh_every]
        assert np.all(lam[stale] == lam[[i - 1 for i in stale]])
    first = training.init_weights(arch)
    assert max(np.abs(jax_run.params[-1][k] - first[k]).max() for k in first) > 1e-2


def test_identical_gradients_give_identical_updates():
    rng = np.random.default_rng(7)
    shapes = {"w": (5, 3), "b": (3,)}
    task = {k: rng.standard_normal(s) for k, s in shapes.items()}
    reg = {k: rng.standard_normal(s) for k, s in shapes.items()}
    lambda_0, alpha = 0.3, 0.2

    tx = cosmoreg_jax.cosmoreg(lambda_0, alpha)
    params = {k: jnp.zeros(s, jnp.float64) for k, s in shapes.items()}
    jax_task = {k: jnp.asarray(v) for k, v in task.items()}
    jax_reg = {k: jnp.asarray(v) for k, v in reg.items()}
    updates, state = tx.update(jax_task, tx.init(params), params, reg_grads=jax_reg)

    # Losses that are linear in the parameters have exactly these gradients.
    torch_params = {
        k: torch.zeros(s, dtype=torch.float64, requires_grad=True) for k, s in shapes.items()
    }
    helper = cosmoreg_torch.CosmoReg(torch_params.values(), lambda_0, alpha)
    task_loss = sum((torch_params[k] * torch.from_numpy(task[k])).sum() for k in shapes)
    energy = sum((torch_params[k] * torch.from_numpy(reg[k])).sum() for k in shapes)
    helper.backward(task_loss, energy)

    g = sum(float(np.sum(v * v)) for v in task.values())
    lam = oracle.adaptive_lambda(g, lambda_0, alpha)
    for k in shapes:
        expected = task[k] + lam * reg[k]
        np.testing.assert_allclose(np.asarray(updates[k]), expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(torch_params[k].grad.numpy(), expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(
            torch_params[k].grad.numpy(), np.asarray(updates[k]), rtol=1e-12, atol=0
        )
    assert optax.tree.get(state, "lambda_t") == pytest.approx(lam, rel=1e-12)
    assert helper.lambda_t.item() == pytest.approx(lam, rel=1e-12)
    assert helper.task_grad_norm_sq.item() == pytest.approx(g, rel=1e-12)
