"""cosmoreg_jax.cosmoreg (the optax transformation) and value_and_split_grad, against NumPy.

Expected values are computed here from the formulas (NumPy and parity_tests.oracle), never taken
from the code under test. The session runs with jax_enable_x64, so every array is dtype-explicit.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cosmoreg_jax
from cosmoreg_jax import CosmoRegState
from parity_tests import oracle

RTOL64 = 1e-12


def random_tree(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {
        "w": rng.standard_normal((3, 2)).astype(dtype),
        "b": rng.standard_normal(2).astype(dtype),
    }


def sq_norm(tree):
    return sum(float(np.sum(np.square(np.asarray(x, np.float64)))) for x in jax.tree.leaves(tree))


def combine(task, reg, lam):
    return jax.tree.map(lambda u, r: np.asarray(u) + lam * np.asarray(r), task, reg)


def as_jnp(tree):
    return jax.tree.map(jnp.asarray, tree)


# --- the plain update ---------------------------------------------------------------------------


def test_update_is_task_plus_lambda_times_reg():
    params, task, reg = random_tree(0), random_tree(1), random_tree(2)
    tx = cosmoreg_jax.cosmoreg(lambda_0=0.3, alpha=0.4)
    state = tx.init(as_jnp(params))
    out, state = jax.jit(tx.update)(as_jnp(task), state, as_jnp(params), reg_grads=as_jnp(reg))

    g = sq_norm(task)
    lam = oracle.adaptive_lambda(g, 0.3, 0.4)
    assert 1e-3 < lam < 0.3  # the test exercises the exponential, not a clamp
    chex.assert_trees_all_close(out, combine(task, reg, lam), rtol=RTOL64)
    assert state.count == 1 and state.count.dtype == jnp.int32
    np.testing.assert_allclose(state.lambda_t, lam, rtol=RTOL64)
    np.testing.assert_allclose(state.task_grad_norm_sq, g, rtol=RTOL64)


def test_init_state_is_lambda_at_zero_gradient():
    state = cosmoreg_jax.cosmoreg(lambda_0=0.25).init(as_jnp(random_tree(0, np.float32)))
    assert isinstance(state, CosmoRegState)
    assert state.count == 0 and state.count.dtype == jnp.int32 and state.count.shape == ()
    assert state.lambda_t == np.float32(0.25) and state.lambda_t.dtype == jnp.float32
    assert state.task_grad_norm_sq == 0 and state.task_grad_norm_sq.dtype == jnp.float32


@pytest.mark.parametrize(
    ("leaf_dtypes", "state_dtype"),
    [
        ((jnp.float32, jnp.float32), jnp.float32),
        ((jnp.bfloat16, jnp.float16), jnp.float32),
        ((jnp.float64, jnp.float64), jnp.float64),
        ((jnp.float32, jnp.float64), jnp.float64),
    ],
)
def test_state_dtype_follows_params(leaf_dtypes, state_dtype):
    params = {"a": jnp.ones(2, leaf_dtypes[0]), "b": jnp.ones(3, leaf_dtypes[1])}
    tx = cosmoreg_jax.cosmoreg()
    state = tx.init(params)
    assert state.lambda_t.dtype == state_dtype
    assert state.task_grad_norm_sq.dtype == state_dtype
    out, new_state = jax.jit(tx.update)(params, state, reg_grads=params)
    chex.assert_trees_all_equal_dtypes(out, params)  # λ is cast to each leaf's dtype
    chex.assert_trees_all_equal_dtypes(new_state, state)


def test_half_precision_gradient_norm_does_not_overflow():
    # ‖u‖² = 4·300² = 360000 is past float16's maximum (65504): it is computed in float32.
    task = {"w": jnp.full(4, 300.0, jnp.float16)}
    tx = cosmoreg_jax.cosmoreg(alpha=1e-6)
    _, state = tx.update(task, tx.init(task), reg_grads=task)
    np.testing.assert_allclose(state.task_grad_norm_sq, 360000.0, rtol=1e-6)
    np.testing.assert_allclose(state.lambda_t, oracle.adaptive_lambda(360000.0, 0.01, 1e-6), 1e-6)


def test_max_exponent_clamps_lambda():
    task, reg = random_tree(3), random_tree(4)
    tx = cosmoreg_jax.cosmoreg(lambda_0=0.5, alpha=1000.0, max_exponent=5.0)
    out, state = tx.update(as_jnp(task), tx.init(as_jnp(task)), reg_grads=as_jnp(reg))
    np.testing.assert_allclose(state.lambda_t, 0.5 * np.exp(-5.0), rtol=RTOL64)
    chex.assert_trees_all_close(out, combine(task, reg, 0.5 * np.exp(-5.0)), rtol=RTOL64)


def test_lambda_is_found_by_tree_get_in_a_chain():
    params, task, reg = random_tree(0), random_tree(1), random_tree(2)
    tx = optax.chain(optax.clip(100.0), cosmoreg_jax.cosmoreg(0.2, 0.1), optax.adam(1e-2))
    state = tx.init(as_jnp(params))
    _, state = tx.update(as_jnp(task), state, as_jnp(params), reg_grads=as_jnp(reg))
    expected = oracle.adaptive_lambda(sq_norm(task), 0.2, 0.1)
    np.testing.assert_allclose(optax.tree.get(state, "lambda_t"), expected, rtol=RTOL64)
    np.testing.assert_allclose(cosmoreg_jax.current_lambda(state), expected, rtol=RTOL64)
    assert optax.tree.get(state, "CosmoRegState").count == 1


# --- compositions -------------------------------------------------------------------------------


def test_chain_with_adam_equals_adam_on_the_combined_gradients():
    params = as_jnp(random_tree(0))
    tx = optax.chain(cosmoreg_jax.cosmoreg(0.2, 0.1), optax.adam(1e-2))
    adam = optax.adam(1e-2)
    state, adam_state = tx.init(params), adam.init(params)
    for step in range(3):
        task, reg = random_tree(10 + step), random_tree(20 + step)
        out, state = tx.update(as_jnp(task), state, params, reg_grads=as_jnp(reg))
        lam = oracle.adaptive_lambda(sq_norm(task), 0.2, 0.1)
        expected, adam_state = adam.update(as_jnp(combine(task, reg, lam)), adam_state, params)
        chex.assert_trees_all_close(out, expected, rtol=1e-10)


def test_multisteps_after_cosmoreg_averages_each_micro_batch_direction():
    k = 3
    params = as_jnp(random_tree(0))
    tasks = [random_tree(30 + i) for i in range(k)]
    regs = [random_tree(40 + i) for i in range(k)]
    lams = [oracle.adaptive_lambda(sq_norm(t), 0.2, 0.1) for t in tasks]
    assert len(set(lams)) == k  # each micro-batch has its own λ
    mean_direction = jax.tree.map(
        lambda *xs: np.mean(xs, axis=0),
        *[combine(t, r, lam) for t, r, lam in zip(tasks, regs, lams, strict=True)],
    )
    # A large eps, so that adam's first step is not just -lr·sign(g) and directions differ.
    adam = optax.adam(1e-2, eps=1.0)
    expected, _ = adam.update(as_jnp(mean_direction), adam.init(params), params)

    def run(tx):
        state, update = tx.init(params), jax.jit(tx.update)
        outs = []
        for t, r in zip(tasks, regs, strict=True):
            out, state = update(as_jnp(t), state, params, reg_grads=as_jnp(r))
            outs.append(out)
        return outs, state

    def multi_steps(inner):  # MultiSteps accumulates in float32 unless told otherwise
        return optax.MultiSteps(inner, k, accumulator_dtype=jnp.float64)

    outs, state = run(optax.chain(cosmoreg_jax.cosmoreg(0.2, 0.1), multi_steps(adam)))
    for out in outs[:-1]:
        chex.assert_trees_all_close(out, optax.tree.zeros_like(params), atol=0.0)
    chex.assert_trees_all_close(outs[-1], expected, rtol=1e-10)
    assert optax.tree.get(state, "CosmoRegState").count == k

    # The other order hands cosmoreg the running mean of the task gradients and only the last
    # micro-batch's reg_grads, which is a different (wrong) direction.
    wrong, _ = run(multi_steps(optax.chain(cosmoreg_jax.cosmoreg(0.2, 0.1), adam)))
    mean_task = jax.tree.map(lambda *xs: np.mean(xs, axis=0), *tasks)
    lam_of_mean = oracle.adaptive_lambda(sq_norm(mean_task), 0.2, 0.1)
    what_it_does, _ = adam.update(
        as_jnp(combine(mean_task, regs[-1], lam_of_mean)), adam.init(params), params
    )
    chex.assert_trees_all_close(wrong[-1], what_it_does, rtol=1e-10)
    assert not optax.tree.allclose(wrong[-1], expected, rtol=0.05)


def test_apply_if_finite_skips_a_nan_step_and_keeps_the_cosmoreg_state():
    lr = 0.1
    tx = optax.apply_if_finite(optax.chain(cosmoreg_jax.cosmoreg(0.2, 0.1), optax.sgd(lr)), 2)
    params = as_jnp(random_tree(0))
    task, reg = random_tree(1), random_tree(2)
    update = jax.jit(tx.update)
    state = tx.init(params)

    out, state = update(as_jnp(task), state, params, reg_grads=as_jnp(reg))
    lam = oracle.adaptive_lambda(sq_norm(task), 0.2, 0.1)
    new_params = optax.apply_updates(params, out)
    chex.assert_trees_all_close(
        new_params,
        jax.tree.map(lambda p, d: np.asarray(p) - lr * d, params, combine(task, reg, lam)),
        rtol=RTOL64,
    )
    before = optax.tree.get(state, "CosmoRegState")

    bad = {"w": np.full((3, 2), np.nan), "b": np.ones(2)}
    out, state = update(as_jnp(bad), state, new_params, reg_grads=as_jnp(reg))
    chex.assert_trees_all_equal(optax.apply_updates(new_params, out), new_params)
    chex.assert_trees_all_equal(optax.tree.get(state, "CosmoRegState"), before)
    assert state.notfinite_count == 1 and not state.last_finite


def test_inject_hyperparams_changes_lambda_by_the_formula():
    params, task, reg = as_jnp(random_tree(0)), random_tree(1), random_tree(2)
    tx = optax.inject_hyperparams(cosmoreg_jax.cosmoreg)(lambda_0=0.2, alpha=0.1)
    state = tx.init(params)
    _, state = tx.update(as_jnp(task), state, params, reg_grads=as_jnp(reg))
    g = sq_norm(task)
    np.testing.assert_allclose(
        cosmoreg_jax.current_lambda(state), oracle.adaptive_lambda(g, 0.2, 0.1), rtol=RTOL64
    )

    state.hyperparams["lambda_0"] = jnp.asarray(0.7, jnp.float64)
    state.hyperparams["alpha"] = jnp.asarray(0.03, jnp.float64)
    out, state = jax.jit(tx.update)(as_jnp(task), state, params, reg_grads=as_jnp(reg))
    lam = oracle.adaptive_lambda(g, 0.7, 0.03)
    np.testing.assert_allclose(cosmoreg_jax.current_lambda(state), lam, rtol=RTOL64)
    chex.assert_trees_all_close(out, combine(task, reg, lam), rtol=RTOL64)
    with pytest.raises(ValueError, match="needs reg_grads"):
        tx.update(as_jnp(task), state, params)


def test_lambda_0_schedule_is_evaluated_at_the_count():
    tx = cosmoreg_jax.cosmoreg(optax.linear_schedule(0.25, 0.75, transition_steps=4), alpha=0.1)
    params = as_jnp(random_tree(0))
    state = tx.init(params)
    np.testing.assert_allclose(state.lambda_t, 0.25, rtol=RTOL64)
    update = jax.jit(tx.update)
    for count in range(6):
        task, reg = random_tree(50 + count), random_tree(60 + count)
        out, state = update(as_jnp(task), state, params, reg_grads=as_jnp(reg))
        lambda_0 = 0.25 + 0.5 * min(count, 4) / 4  # exact in float32, as optax computes it
        lam = lambda_0 * np.exp(-min(0.1 * sq_norm(task), 70.0))
        np.testing.assert_allclose(state.lambda_t, lam, rtol=RTOL64)
        chex.assert_trees_all_close(out, combine(task, reg, lam), rtol=RTOL64)


# --- errors -------------------------------------------------------------------------------------


def test_missing_reg_grads():
    params = as_jnp(random_tree(0))
    tx = optax.chain(cosmoreg_jax.cosmoreg(), optax.sgd(0.1))
    with pytest.raises(ValueError, match=r"cosmoreg.update needs reg_grads=\.\.\. \(the gradients"):
        tx.update(params, tx.init(params), params)


@pytest.mark.parametrize(
    "reg_grads",
    [
        {"w": jnp.ones((3, 2))},  # a leaf missing
        {"w": jnp.ones((3, 2)), "b": jnp.ones(3)},  # a shape differs
        [jnp.ones((3, 2)), jnp.ones(2)],  # another container
    ],
)
def test_mismatched_reg_grads_name_both_structures(reg_grads):
    params = as_jnp(random_tree(0))
    tx = cosmoreg_jax.cosmoreg()
    with pytest.raises(ValueError, match=r"updates=\{'b': 'float64\[2\]'.*and reg_grads="):
        tx.update(params, tx.init(params), reg_grads=reg_grads)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lambda_0": -0.1}, "lambda_0=-0.1"),
        ({"lambda_0": float("nan")}, "lambda_0=nan"),
        ({"alpha": -1.0}, "alpha=-1.0"),
        ({"max_exponent": float("inf")}, "max_exponent=inf"),
        ({"refresh_every": 0}, "refresh_every=0"),
        ({"refresh_every": 2.0}, "refresh_every=2.0"),
        ({"refresh_every": True}, "refresh_every=True"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cosmoreg_jax.cosmoreg(**kwargs)


def test_current_lambda_without_cosmoreg_state():
    state = optax.adam(1e-3).init(jnp.ones(2, jnp.float32))
    with pytest.raises(ValueError, match="no CosmoRegState"):
        cosmoreg_jax.current_lambda(state)
    with pytest.raises(ValueError, match="no CosmoRegState"):
        cosmoreg_jax.needs_refresh(state, 2)


# --- amortized λ (refresh_every) ----------------------------------------------------------------


def test_without_reg_grads_amortized_mode_passes_updates_through():
    params, fused = as_jnp(random_tree(0)), as_jnp(random_tree(1))
    tx = cosmoreg_jax.cosmoreg(refresh_every=3)
    state = CosmoRegState(
        jnp.asarray(1, jnp.int32), jnp.asarray(0.123, jnp.float64), jnp.asarray(4.5, jnp.float64)
    )
    out, new_state = tx.update(fused, state, params)
    chex.assert_trees_all_equal(out, fused)
    assert new_state.count == 2
    assert new_state.lambda_t == 0.123 and new_state.task_grad_norm_sq == 4.5


def _amortized_problem(seed=7):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 3))
    y = rng.standard_normal((8, 2))

    def task_loss(p):
        return jnp.mean((jnp.tanh(x @ p["w"] + p["b"]) - y) ** 2)

    def energy(p):
        return cosmoreg_jax.energy(jnp.tanh(x @ p["w"] + p["b"]), M_scale=2.0)

    return task_loss, energy


def _amortized_steps(tx, fun, k, refresh_static):
    """The jitted step with a lax.cond (refresh_static=False) or with ``refresh`` static."""

    def step(params, opt_state, refresh=None):
        _, (grads, reg_grads) = cosmoreg_jax.cosmoreg_step_grads(
            fun, opt_state, params, refresh_every=k, refresh=refresh
        )
        updates, opt_state = tx.update(grads, opt_state, params, reg_grads=reg_grads)
        return optax.apply_updates(params, updates), opt_state, grads

    if not refresh_static:
        jitted = jax.jit(step)
        return lambda params, opt_state, t: jitted(params, opt_state)
    jitted = jax.jit(step, static_argnames="refresh")
    return lambda params, opt_state, t: jitted(params, opt_state, refresh=t % k == 0)


@pytest.mark.parametrize("refresh_static", [False, True], ids=["lax_cond", "static_refresh"])
def test_amortized_lambda_under_jit(refresh_static):
    k, lr, lambda_0, alpha, steps = 3, 0.05, 0.5, 0.2, 7
    task_loss, energy = _amortized_problem()
    traces = []

    def fun(p):
        traces.append(None)
        return task_loss(p), energy(p)

    tx = optax.chain(cosmoreg_jax.cosmoreg(lambda_0, alpha, refresh_every=k), optax.sgd(lr))
    step = _amortized_steps(tx, fun, k, refresh_static)

    # The reference: separate gradients of each term, and of the fused loss for a given λ.
    task_grad, energy_grad = jax.jit(jax.grad(task_loss)), jax.jit(jax.grad(energy))
    fused_grad = jax.jit(jax.grad(lambda p, lam: task_loss(p) + lam * energy(p)))

    params = as_jnp(random_tree(0))
    opt_state = tx.init(params)
    manual = params
    lam = None
    for t in range(steps):
        assert bool(cosmoreg_jax.needs_refresh(opt_state, k)) == (t % k == 0)
        params, opt_state, grads = step(params, opt_state, t)

        task_grads, reg_grads = task_grad(manual), energy_grad(manual)
        if t % k == 0:  # λ from the task gradients alone
            lam = oracle.adaptive_lambda(sq_norm(task_grads), lambda_0, alpha)
            chex.assert_trees_all_close(grads, task_grads, rtol=1e-12)
        else:  # one backward pass of L_task + λ_last·S
            chex.assert_trees_all_close(grads, fused_grad(manual, lam), rtol=1e-12)
        np.testing.assert_allclose(cosmoreg_jax.current_lambda(opt_state), lam, rtol=RTOL64)
        manual = jax.tree.map(
            lambda p, u, r, lam=lam: p - lr * (u + lam * r), manual, task_grads, reg_grads
        )
        chex.assert_trees_all_close(params, manual, rtol=1e-12)

    # Each kind of step is traced once: by the two lax.cond branches of one compilation, or by
    # the two compilations of the static variant.
    assert len(traces) == 2
    assert optax.tree.get(opt_state, "CosmoRegState").count == steps


def test_static_refresh_matches_lax_cond_step_by_step():
    k, steps = 3, 7
    task_loss, energy = _amortized_problem(seed=11)

    def fun(p):
        return task_loss(p), energy(p)

    tx = optax.chain(cosmoreg_jax.cosmoreg(0.5, 0.2, refresh_every=k), optax.adam(0.05))
    runs = {}
    for refresh_static in (False, True):
        step = _amortized_steps(tx, fun, k, refresh_static)
        params = as_jnp(random_tree(3))
        opt_state = tx.init(params)
        history = []
        for t in range(steps):
            params, opt_state, grads = step(params, opt_state, t)
            history.append((params, grads, cosmoreg_jax.current_lambda(opt_state)))
        runs[refresh_static] = (history, opt_state)
    (cond_history, cond_state), (static_history, static_state) = runs[False], runs[True]
    for cond_step, static_step in zip(cond_history, static_history, strict=True):
        chex.assert_trees_all_close(static_step, cond_step, rtol=1e-12, atol=0)
    chex.assert_trees_all_close(static_state, cond_state, rtol=1e-12, atol=0)


def test_static_refresh_has_no_cond_and_each_kind_is_its_step():
    task_loss, energy = _amortized_problem()
    params = as_jnp(random_tree(0))
    tx = optax.chain(cosmoreg_jax.cosmoreg(0.5, 0.2, refresh_every=3), optax.sgd(0.1))
    opt_state = tx.init(params)

    def grads_of(refresh, params=params):
        return cosmoreg_jax.cosmoreg_step_grads(
            lambda p: (task_loss(p), energy(p)), opt_state, params, refresh_every=3, refresh=refresh
        )

    for refresh in (True, False):
        assert "cond" not in str(jax.make_jaxpr(grads_of, static_argnums=0)(refresh, params))
    assert "cond" in str(jax.make_jaxpr(grads_of, static_argnums=0)(None, params))
    # refresh=True gives the split gradients even where needs_refresh would say otherwise.
    (_, (grads, reg_grads)) = grads_of(True)
    chex.assert_trees_all_close(grads, jax.grad(task_loss)(params), rtol=1e-12)
    chex.assert_trees_all_close(reg_grads, jax.grad(energy)(params), rtol=1e-12)
    (_, (grads, reg_grads)) = grads_of(False)
    lam = float(cosmoreg_jax.current_lambda(opt_state))
    expected = jax.grad(lambda p: task_loss(p) + lam * energy(p))(params)
    chex.assert_trees_all_close(grads, expected, rtol=1e-12)
    chex.assert_trees_all_equal(reg_grads, jax.tree.map(jnp.zeros_like, params))


@pytest.mark.parametrize("refresh", [1, np.bool_(True), jnp.asarray(True), "yes"])
def test_static_refresh_must_be_a_python_bool(refresh):
    params = as_jnp(random_tree(0))
    tx = cosmoreg_jax.cosmoreg(refresh_every=3)
    with pytest.raises(TypeError, match="refresh must be None or a Python bool"):
        cosmoreg_jax.cosmoreg_step_grads(
            lambda p: (jnp.sum(p["w"]), jnp.sum(p["b"])),
            tx.init(params),
            params,
            refresh_every=3,
            refresh=refresh,
        )


# --- value_and_split_grad -----------------------------------------------------------------------


def two_outputs(p, x):
    h = jnp.tanh(x @ p["w"] + p["b"])
    return jnp.sum(h**3), cosmoreg_jax.energy(h, M_scale=2.0)


def test_split_grad_is_one_forward_and_matches_separate_grads():
    calls = []

    def fun(p, x):
        calls.append(None)
        return two_outputs(p, x)

    params = as_jnp(random_tree(0))
    x = jnp.asarray(np.random.default_rng(1).standard_normal((5, 3)))
    split = jax.jit(cosmoreg_jax.value_and_split_grad(fun))
    (task, energy), (task_grads, reg_grads) = split(params, x)
    assert len(calls) == 1  # one trace: the forward pass is shared by both pullbacks
    np.testing.assert_allclose(task, two_outputs(params, x)[0], rtol=RTOL64)
    np.testing.assert_allclose(energy, two_outputs(params, x)[1], rtol=RTOL64)
    expected_task, expected_reg = jax.jit(
        lambda p: (
            jax.grad(lambda q: two_outputs(q, x)[0])(p),
            jax.grad(lambda q: two_outputs(q, x)[1])(p),
        )
    )(params)
    chex.assert_trees_all_close(task_grads, expected_task, rtol=RTOL64)
    chex.assert_trees_all_close(reg_grads, expected_reg, rtol=RTOL64)


def test_split_grad_tuple_argnums_and_aux():
    def fun(w, b, x):
        task, energy = two_outputs({"w": w, "b": b}, x)
        return (task, energy), {"scaled": 2 * task}

    p = as_jnp(random_tree(0))
    x = jnp.asarray(np.random.default_rng(1).standard_normal((5, 3)))
    split = cosmoreg_jax.value_and_split_grad(fun, argnums=(0, 1), has_aux=True)
    (task, _, aux), (task_grads, reg_grads) = split(p["w"], p["b"], x)
    assert isinstance(task_grads, tuple) and len(task_grads) == 2
    np.testing.assert_allclose(aux["scaled"], 2 * task, rtol=RTOL64)
    expected_task = jax.grad(lambda w, b: two_outputs({"w": w, "b": b}, x)[0], (0, 1))(
        p["w"], p["b"]
    )
    expected_reg = jax.grad(lambda w, b: two_outputs({"w": w, "b": b}, x)[1], (0, 1))(
        p["w"], p["b"]
    )
    chex.assert_trees_all_close(task_grads, expected_task, rtol=RTOL64)
    chex.assert_trees_all_close(reg_grads, expected_reg, rtol=RTOL64)

    (_, _), (b_task, _) = cosmoreg_jax.value_and_split_grad(
        lambda w, b, x: two_outputs({"w": w, "b": b}, x), argnums=1
    )(p["w"], p["b"], x)
    chex.assert_trees_all_close(b_task, expected_task[1], rtol=RTOL64)


def test_split_grad_rejects_bad_outputs():
    with pytest.raises(TypeError, match=r"return \(task_loss, energy\)"):
        cosmoreg_jax.value_and_split_grad(lambda x: jnp.sum(x))(jnp.ones(3))
    with pytest.raises(TypeError, match="energy to be a real scalar"):
        cosmoreg_jax.value_and_split_grad(lambda x: (jnp.sum(x), x))(jnp.ones(3))
    with pytest.raises(ValueError, match=r"argnums=\(\)"):
        cosmoreg_jax.value_and_split_grad(two_outputs, argnums=())
