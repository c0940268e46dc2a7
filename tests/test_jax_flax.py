"""cosmoreg_jax.flax (tap, collect, TrainState) and nnx.Optimizer, against hand-written math.

The models are float64 (the session runs with jax_enable_x64), so steps are checked tightly
against a forward pass written out with jnp and the NumPy oracle.
"""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax.training import train_state

import cosmoreg_jax
import cosmoreg_jax.flax as crf
from parity_tests import oracle

# tap() on an NNX module outside nnx.capture uses the sow path that flax 0.12 deprecates; both
# paths are tested.
pytestmark = pytest.mark.filterwarnings(r"ignore:Using 'Module.sow\(\)' outside:DeprecationWarning")

F64 = jnp.float64
LAMBDA_0, ALPHA, LR, M = 0.5, 0.1, 0.1, 2.0
RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 3))
Y = RNG.standard_normal((6, 2))


@jax.jit
def forward_by_hand(p, x):
    """The two-hidden-layer MLP below, written out: its output and the two tapped activations."""
    h1 = jnp.tanh(x @ p["block1"]["kernel"] + p["block1"]["bias"])
    h2 = jnp.tanh(h1 @ p["block2"]["kernel"] + p["block2"]["bias"])
    return h2 @ p["head"]["kernel"] + p["head"]["bias"], (h1, h2)


def task_by_hand(p):
    return jnp.mean((forward_by_hand(p, X)[0] - Y) ** 2)


def energy_by_hand(p):
    h1, h2 = forward_by_hand(p, X)[1]
    return cosmoreg_jax.energy([h1, h2], M_scale=M)


def sgd_step_by_hand(p):
    """p − lr·(∇L_task + λ·∇S), with λ from the oracle formula."""
    task_grads, reg_grads = jax.jit(jax.grad(task_by_hand))(p), jax.jit(jax.grad(energy_by_hand))(p)
    g = sum(float(np.sum(np.square(t))) for t in jax.tree.leaves(task_grads))
    lam = oracle.adaptive_lambda(g, LAMBDA_0, ALPHA)
    new = jax.tree.map(lambda w, u, r: w - LR * (u + lam * r), p, task_grads, reg_grads)
    return new, lam


def cosmoreg_sgd():
    return optax.chain(cosmoreg_jax.cosmoreg(LAMBDA_0, ALPHA), optax.sgd(LR))


# --- NNX ----------------------------------------------------------------------------------------


class NNXBlock(nnx.Module):
    def __init__(self, din, dout, rngs):
        self.linear = nnx.Linear(din, dout, dtype=F64, param_dtype=F64, rngs=rngs)

    def __call__(self, x):
        return crf.tap(self, jnp.tanh(self.linear(x)))


class NNXMLP(nnx.Module):
    def __init__(self, rngs):
        self.block1 = NNXBlock(3, 4, rngs)
        self.block2 = NNXBlock(4, 5, rngs)
        self.head = nnx.Linear(5, 2, dtype=F64, param_dtype=F64, rngs=rngs)

    def __call__(self, x):
        h = self.block2(self.block1(x))
        crf.tap(self, h, name="other")  # a different name: collect leaves it alone
        return self.head(h)


def nnx_params(model):
    """The model's parameters as plain arrays, in the layout forward_by_hand reads."""
    p = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    p = {name: p[name]["linear"] if name.startswith("block") else p[name] for name in p}
    return jax.tree.map(np.array, p)  # copies: the model's arrays are updated in place


def test_nnx_collect_pops_the_tapped_activations():
    model = NNXMLP(nnx.Rngs(0))
    _, (h1, h2) = forward_by_hand(nnx_params(model), X)
    model(X)  # eager: the taps stay on the model
    collected = crf.collect(model)
    chex.assert_trees_all_close(collected, [h1, h2], rtol=1e-13)
    np.testing.assert_allclose(
        cosmoreg_jax.energy(collected, M_scale=M),
        oracle.energy(h1, M_scale=M) + oracle.energy(h2, M_scale=M),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="name='cosmoreg'"):
        crf.collect(model)  # popped: the next call starts afresh
    chex.assert_trees_all_close(crf.collect(model, name="other"), [h2], rtol=1e-13)


def test_nnx_collect_reads_nnx_capture():
    model = NNXMLP(nnx.Rngs(0))
    _, (h1, h2) = forward_by_hand(nnx_params(model), X)
    _, intermediates = nnx.capture(model, nnx.Intermediate)(X)
    chex.assert_trees_all_close(crf.collect(intermediates), [h1, h2], rtol=1e-13)


def test_nnx_optimizer_step_matches_sgd_by_hand():
    model = NNXMLP(nnx.Rngs(1))
    before = nnx_params(model)
    expected, lam = sgd_step_by_hand(before)
    optimizer = nnx.Optimizer(model, cosmoreg_sgd(), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer):
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)

        def loss_fn(params):
            model = nnx.merge(graphdef, params, rest)
            pred, intermediates = nnx.capture(model, nnx.Intermediate)(X)
            energy = cosmoreg_jax.energy(crf.collect(intermediates), M_scale=M)
            return jnp.mean((pred - Y) ** 2), energy

        (task, _), (grads, reg_grads) = cosmoreg_jax.value_and_split_grad(loss_fn)(params)
        optimizer.update(model, grads, reg_grads=reg_grads)
        return task

    task = train_step(model, optimizer)
    np.testing.assert_allclose(task, task_by_hand(before), rtol=1e-13)
    chex.assert_trees_all_close(nnx_params(model), expected, rtol=1e-12)
    np.testing.assert_allclose(cosmoreg_jax.current_lambda(optimizer.opt_state), lam, rtol=1e-12)


# --- Linen --------------------------------------------------------------------------------------


class LinenBlock(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        dense = nn.Dense(self.features, dtype=F64, param_dtype=F64, name="linear")
        return crf.tap(self, jnp.tanh(dense(x)))


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = LinenBlock(5, name="block2")(LinenBlock(4, name="block1")(x))
        crf.tap(self, h, name="other")
        return nn.Dense(2, dtype=F64, param_dtype=F64, name="head")(h)


def linen_params(params):
    return {
        name: params[name]["linear"] if name.startswith("block") else params[name]
        for name in params
    }


def test_linen_collect_finds_the_tapped_activations_anywhere():
    model = LinenMLP()
    params = model.init(jax.random.key(0), X)["params"]
    _, (h1, h2) = forward_by_hand(linen_params(params), X)
    _, mutated = model.apply({"params": params}, X, mutable=["intermediates"])
    assert set(mutated["intermediates"]) == {"block1", "block2", "other"}
    for source in (mutated, mutated["intermediates"]):
        collected = crf.collect(source)
        chex.assert_trees_all_close(collected, [h1, h2], rtol=1e-13)
    np.testing.assert_allclose(
        cosmoreg_jax.energy(collected, M_scale=M),
        oracle.energy(h1, M_scale=M) + oracle.energy(h2, M_scale=M),
        rtol=1e-12,
    )
    chex.assert_trees_all_close(crf.collect(mutated, name="other"), [h2], rtol=1e-13)


def test_linen_train_state_step_matches_sgd_by_hand():
    model = LinenMLP()
    params = model.init(jax.random.key(1), X)["params"]
    expected, lam = sgd_step_by_hand(linen_params(params))
    state = crf.TrainState.create(apply_fn=model.apply, params=params, tx=cosmoreg_sgd())

    @jax.jit
    def train_step(state):
        def loss_fn(params):
            pred, mutated = state.apply_fn({"params": params}, X, mutable=["intermediates"])
            return jnp.mean((pred - Y) ** 2), cosmoreg_jax.energy(crf.collect(mutated), M_scale=M)

        _, (grads, reg_grads) = cosmoreg_jax.value_and_split_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads, reg_grads=reg_grads)

    new_state = train_step(state)
    assert new_state.step == 1
    chex.assert_trees_all_close(linen_params(new_state.params), expected, rtol=1e-12)
    np.testing.assert_allclose(cosmoreg_jax.current_lambda(new_state.opt_state), lam, rtol=1e-12)


def test_linen_train_state_without_reg_grads_is_the_linen_one():
    params = {"w": jnp.asarray(RNG.standard_normal(3))}
    grads = {"w": jnp.asarray(RNG.standard_normal(3))}
    tx = optax.adam(1e-2)
    ours = crf.TrainState.create(apply_fn=None, params=params, tx=tx).apply_gradients(grads=grads)
    theirs = train_state.TrainState.create(apply_fn=None, params=params, tx=tx)
    theirs = theirs.apply_gradients(grads=grads)
    chex.assert_trees_all_equal(
        (ours.step, ours.params, ours.opt_state), (theirs.step, theirs.params, theirs.opt_state)
    )
    with pytest.raises(ValueError, match="no CosmoRegState"):
        ours.apply_gradients(grads=grads, reg_grads=grads)  # adam alone would drop them


# --- errors -------------------------------------------------------------------------------------


def test_tap_and_collect_reject_other_objects():
    with pytest.raises(TypeError, match=r"tap needs a flax\.nnx\.Module or a flax\.linen\.Module"):
        crf.tap(object(), jnp.ones(2, F64))
    with pytest.raises(TypeError, match="collect needs an NNX module or a mapping"):
        crf.collect([jnp.ones(2, F64)])
    with pytest.raises(ValueError, match="no activation tapped under name='cosmoreg'"):
        crf.collect({"intermediates": {}})
