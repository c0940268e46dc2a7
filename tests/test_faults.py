"""Faults: a NaN batch mid-training is skipped with the state intact; half precision does not
overflow the energy.

The reference for a skipped step is the same run with that batch left out: after the skip,
parameters, optimizer state and CosmoReg state must be exactly those of the run that never saw
it (the same operations on the same values, so bit for bit).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from torch import nn

import cosmoreg_jax
import cosmoreg_torch

STEPS, NAN_STEP = 8, 3
LAMBDA_0, ALPHA, M_SCALE = 0.5, 1.0, 2.0


def batch(step, nan=False, size=12):
    rng = np.random.default_rng(step)
    x = 2.0 * rng.standard_normal((size, 5))
    if nan and step == NAN_STEP:
        x[2, 1] = np.nan
    return x, rng.integers(0, 3, size)


# --- JAX: optax.apply_if_finite -------------------------------------------------------------


def jax_losses(params, x, y):
    h = jnp.tanh(x @ params["w1"])
    logits = h @ params["w2"]
    task = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return task, cosmoreg_jax.energy(h, M_scale=M_SCALE)


def jax_train(steps):
    key1, key2 = jax.random.split(jax.random.key(0))
    params = {"w1": jax.random.normal(key1, (5, 7)), "w2": jax.random.normal(key2, (7, 3))}
    inner = optax.chain(cosmoreg_jax.cosmoreg(LAMBDA_0, ALPHA), optax.adam(0.05))
    tx = optax.apply_if_finite(inner, max_consecutive_errors=3)
    grad_fn = cosmoreg_jax.value_and_split_grad(jax_losses)

    @jax.jit
    def step(params, opt_state, x, y):
        _, (grads, reg_grads) = grad_fn(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params, reg_grads=reg_grads)
        return optax.apply_updates(params, updates), opt_state

    opt_state = tx.init(params)
    for x, y in steps:
        params, opt_state = step(params, opt_state, x, y)
    return params, opt_state


def test_jax_apply_if_finite_skips_a_nan_batch_and_training_continues():
    with_nan, state = jax_train([batch(t, nan=True) for t in range(STEPS)])
    without, clean_state = jax_train([batch(t) for t in range(STEPS) if t != NAN_STEP])
    jax.tree.map(np.testing.assert_array_equal, with_nan, without)
    jax.tree.map(np.testing.assert_array_equal, state.inner_state, clean_state.inner_state)
    assert int(state.total_notfinite) == 1 and int(clean_state.total_notfinite) == 0
    assert bool(state.last_finite) and int(state.notfinite_count) == 0
    cosmo = optax.tree.get(state.inner_state, "CosmoRegState")
    assert int(cosmo.count) == STEPS - 1


# --- PyTorch: CosmoReg(skip_nonfinite=True) --------------------------------------------------


def torch_train(steps, make_optimizer, use_reg_step):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    opt = make_optimizer(model.parameters())
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA, skip_nonfinite=True)
    stepped = []
    with cosmoreg_torch.ActivationTap(model, ["1"]) as tap:
        for x, y in steps:
            opt.zero_grad()
            task = nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
            reg.backward(task, tap.energy(M_scale=M_SCALE))
            if use_reg_step:
                stepped.append(reg.step(opt))
            else:
                opt.step()  # the grads of a skipped step are None: every parameter is skipped
                stepped.append(reg.last_step_finite)
    return model, opt, reg, stepped


OPTIMIZERS = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adam": lambda p: torch.optim.Adam(p, lr=0.05),
}


def assert_same_optimizer_state(opt, ref):
    state, ref_state = opt.state_dict()["state"], ref.state_dict()["state"]
    assert state.keys() == ref_state.keys() and state
    for index, entry in state.items():
        assert entry.keys() == ref_state[index].keys()
        for name, value in entry.items():
            torch.testing.assert_close(value, ref_state[index][name], rtol=0, atol=0)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("use_reg_step", [True, False], ids=["reg.step", "opt.step"])
def test_torch_skip_nonfinite_leaves_everything_as_without_the_batch(optimizer, use_reg_step):
    make = OPTIMIZERS[optimizer]
    model, opt, reg, stepped = torch_train(
        [batch(t, nan=True) for t in range(STEPS)], make, use_reg_step
    )
    ref_model, ref_opt, ref_reg, _ = torch_train(
        [batch(t) for t in range(STEPS) if t != NAN_STEP], make, use_reg_step
    )
    assert stepped == [t != NAN_STEP for t in range(STEPS)]
    for p, q in zip(model.parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert_same_optimizer_state(opt, ref_opt)
    for key in ("count", "lambda_t", "task_grad_norm_sq"):
        torch.testing.assert_close(getattr(reg, key), getattr(ref_reg, key), rtol=0, atol=0)
    assert reg.skipped_steps.item() == 1 and ref_reg.skipped_steps.item() == 0
    assert reg.count.item() == STEPS - 1


def test_torch_skipped_step_keeps_accumulated_grads_and_state():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    reg = cosmoreg_torch.CosmoReg([w], skip_nonfinite=True)
    reg.backward(torch.square(w).sum(), torch.square(w).sum())
    grad, state = w.grad.clone(), reg.state_dict()
    reg.backward(torch.square(w).sum() * float("inf"), torch.square(w).sum())
    assert not reg.last_step_finite
    torch.testing.assert_close(w.grad, grad, rtol=0, atol=0)
    for key in ("count", "lambda_t", "task_grad_norm_sq"):
        torch.testing.assert_close(getattr(reg, key), state[key], rtol=0, atol=0)
    assert reg.skipped_steps.item() == 1
    # A non-finite energy gradient alone is caught too.
    reg.backward(torch.square(w).sum(), torch.square(w).sum() * float("nan"))
    assert not reg.last_step_finite and reg.skipped_steps.item() == 2
    reg.backward(torch.square(w).sum(), torch.square(w).sum())
    assert reg.last_step_finite and reg.count.item() == 2


def test_torch_skip_nonfinite_on_a_reuse_step_checks_the_combined_gradient():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    reg = cosmoreg_torch.CosmoReg([w], refresh_every=2, skip_nonfinite=True)
    reg.backward(torch.square(w).sum(), torch.square(w).sum())  # a refresh
    grad, lam = w.grad.clone(), reg.lambda_t.clone()
    reg.backward(torch.square(w).sum(), torch.square(w).sum() * float("inf"))  # a reuse
    assert not reg.last_step_finite and reg.count.item() == 1
    torch.testing.assert_close(w.grad, grad, rtol=0, atol=0)
    # The count did not advance, so the next step is the reuse step again (λ kept).
    reg.backward(torch.square(w).sum(), torch.square(w).sum())
    assert reg.last_step_finite and reg.count.item() == 2
    torch.testing.assert_close(reg.lambda_t, lam, rtol=0, atol=0)
    torch.testing.assert_close(w.grad, grad + 2 * w.detach() * (1 + lam), rtol=1e-15, atol=0)


def test_without_skip_nonfinite_nan_propagates():
    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    reg = cosmoreg_torch.CosmoReg([w])
    reg.backward(torch.square(w).sum() * float("nan"), torch.square(w).sum())
    assert torch.isnan(w.grad).all() and reg.last_step_finite and reg.count.item() == 1


# --- Half precision: the energy is computed in float32 ---------------------------------------


def float64_energy(h):
    s = np.square(np.asarray(h, dtype=np.float64)).sum(axis=-1)
    return np.sum(-(s + 1e-8) * np.log(s + 1e-8) + s * s / M_SCALE**2)


def large_activations(norm, dtype):
    """8 vectors of 16 entries with norms spread over [1, ``norm``], rounded to ``dtype``."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((8, 16))
    h *= (np.geomspace(1.0, norm, 8) / np.linalg.norm(h, axis=-1))[:, None]
    return torch.from_numpy(h).to(dtype)


@pytest.mark.parametrize("norm", [1e2, 1e4])
def test_torch_autocast_bfloat16_energy_and_training_do_not_overflow(norm):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 3))
    # The tapped layer's outputs are h = norm·x: norms ``norm``, in bfloat16.
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(16) * norm)
        model[0].bias.zero_()
    x = large_activations(1.0, torch.float32)  # unit rows
    y = torch.arange(8) % 3
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA)
    opt = torch.optim.SGD(model.parameters(), lr=1e-12)
    with cosmoreg_torch.ActivationTap(model, ["0"]) as tap:
        for _ in range(3):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(x)
                task = nn.functional.cross_entropy(logits.float(), y)
                energy = tap.energy(M_scale=M_SCALE)
            h = tap.activations["0"]
            assert h.dtype == torch.bfloat16 and energy.dtype == torch.float32
            assert h.float().norm(dim=-1).max() > 0.5 * norm
            assert energy.item() == pytest.approx(float64_energy(h.detach().float()), rel=1e-5)
            reg.backward(task, energy)
            assert all(torch.isfinite(p.grad).all() for p in model.parameters())
            opt.step()
    assert torch.isfinite(reg.lambda_t)


def test_torch_float16_energy_is_finite_where_float16_squares_overflow():
    h = large_activations(1e4, torch.float16)
    assert torch.isinf(torch.square(h).sum(dim=-1)).any(), "s itself overflows in float16"
    energy = cosmoreg_torch.energy(h, M_scale=M_SCALE)
    assert energy.dtype == torch.float32
    assert energy.item() == pytest.approx(float64_energy(h.float()), rel=1e-5)


@pytest.mark.parametrize("norm", [1e2, 1e4])
def test_jax_bfloat16_activations_energy_and_grad_do_not_overflow(norm):
    h = jnp.asarray(large_activations(norm, torch.float64).numpy(), dtype=jnp.bfloat16)
    value, grad = jax.jit(jax.value_and_grad(lambda a: cosmoreg_jax.energy(a, M_scale=M_SCALE)))(h)
    assert value.dtype == jnp.float32 and grad.dtype == jnp.bfloat16
    assert float(value) == pytest.approx(float64_energy(np.asarray(h, np.float64)), rel=1e-5)
    assert bool(jnp.isfinite(grad).all())
    assert float(jnp.linalg.norm(h.astype(jnp.float32), axis=-1).max()) > 0.5 * norm
