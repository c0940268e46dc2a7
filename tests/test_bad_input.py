"""Bad input, in both frameworks: the exact exception, a message naming the argument, and no
state changed (parameters, grads, optimizer state, λ_t, CosmoReg counters, captured activations).

Plus hypothesis fuzzing of the energy over shapes, dtypes and magnitudes: only the documented
errors are raised, and finite input gives a finite energy exactly up to the overflow bound of
the compute dtype (float32 for half-precision input): with s_i = ‖h_i‖², every term of
φ(s) = −(s+ε)·ln(s+ε) + s²/M² is finite iff s_i² and s_i²/M² are, i.e.

    max_i s_i ≤ min(1, M)·√F,     and the sum  Σ_i |φ(s_i)| ≤ F,

with F the largest finite number (float32: F ≈ 3.4028e38, √F ≈ 1.8447e19, so ‖h_i‖ ≤ 4.29e9
for M ≥ 1; float64: √F ≈ 1.34e154). Beyond the per-vector bound the energy is inf or NaN.
"""

import copy
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import cosmoreg_jax
import cosmoreg_jax.flax
import cosmoreg_torch

# --- PyTorch ----------------------------------------------------------------------------------


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.hidden, self.head = nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)

    def forward(self, x):
        return self.head(self.hidden(self.fc(x)))


@pytest.fixture
def torch_env():
    """A model, Adam, ``CosmoReg`` and ``CosmoRegLoss`` after one step, and a fresh forward."""
    torch.manual_seed(0)
    model = MLP().double()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    reg = cosmoreg_torch.CosmoReg(model.parameters(), 0.5, 1.0, refresh_every=2)
    loss_fn = cosmoreg_torch.CosmoRegLoss(M_scale=2.0)
    tap = cosmoreg_torch.ActivationTap(model, ["hidden"])
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    reg.backward(nn.functional.cross_entropy(model(x), y), tap.energy())
    opt.step()
    loss_fn(tap.activations["hidden"], 3.0)
    logits = model(x)  # a forward pass whose graph the bad calls must not consume
    env = {
        "model": model,
        "opt": opt,
        "reg": reg,
        "loss_fn": loss_fn,
        "tap": tap,
        "logits": logits,
        "task": nn.functional.cross_entropy(logits, y),
        "energy": tap.energy(),
    }
    yield env
    tap.remove()


def torch_state(env):
    model = env["model"]
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "grads": [p.grad.clone() for p in model.parameters()],
        "opt": copy.deepcopy(env["opt"].state_dict()),
        "reg": env["reg"].state_dict(),
        "current_lambda": env["loss_fn"].current_lambda.clone(),
        "hooks": sum(len(m._forward_hooks) for m in model.modules()),
    }


def assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


def _meta_param():
    return nn.Parameter(torch.zeros(3, device="meta"))


def _complex_param():
    return nn.Parameter(torch.zeros(3, dtype=torch.complex64))


F32 = torch.ones(3, 4)
TORCH_CASES = {
    "int activations": (
        lambda e: cosmoreg_torch.energy(torch.ones(3, 4, dtype=torch.int64)),
        TypeError,
        "activations must be floating point, got dtype=torch.int64",
    ),
    "bool activations": (
        lambda e: cosmoreg_torch.energy(torch.ones(3, 4, dtype=torch.bool)),
        TypeError,
        "activations must be floating point, got dtype=torch.bool",
    ),
    "complex activations": (
        lambda e: cosmoreg_torch.energy(torch.ones(3, 4, dtype=torch.complex64)),
        TypeError,
        "activations must be floating point, got dtype=torch.complex64",
    ),
    "mixed-dtype layers": (
        lambda e: cosmoreg_torch.energy([F32, torch.ones(3, 4, dtype=torch.int32)]),
        TypeError,
        "activations must be floating point, got dtype=torch.int32",
    ),
    "0-dim activations": (
        lambda e: cosmoreg_torch.energy(torch.tensor(1.0)),
        ValueError,
        "activations must have at least one dimension",
    ),
    "no vectors": (
        lambda e: cosmoreg_torch.energy(torch.ones(0, 4)),
        ValueError,
        r"activations must not be empty, got shape \(0, 4\)",
    ),
    "zero-length vectors": (
        lambda e: e["tap"].energy() + cosmoreg_torch.energy(torch.ones(3, 0), reduction="mean"),
        ValueError,
        r"activations must not be empty, got shape \(3, 0\)",
    ),
    "dim out of range": (
        lambda e: e["tap"].energy(dim=2),
        ValueError,
        r"dim=2 is out of range for activations with 2 dimension",
    ),
    "M_scale < 0": (lambda e: e["tap"].energy(M_scale=-1.0), ValueError, "M_scale=-1.0"),
    "eps = 0": (lambda e: e["tap"].energy(eps=0.0), ValueError, "eps=0.0"),
    "bad reduction": (
        lambda e: e["tap"].energy(reduction="max"),
        ValueError,
        "reduction='max'",
    ),
    "negative g": (
        lambda e: e["loss_fn"](F32, -1.0),
        ValueError,
        r"task_grad_norm_sq must be >= 0 .*task_grad_norm_sq=-1.0",
    ),
    "NaN g": (lambda e: e["loss_fn"](F32, math.nan), ValueError, "task_grad_norm_sq=nan"),
    "vector g": (
        lambda e: e["loss_fn"](F32, torch.zeros(2)),
        ValueError,
        r"task_grad_norm_sq must be a Python number or a 0-dim tensor.*shape \(2,\)",
    ),
    "unknown tap name": (
        lambda e: cosmoreg_torch.ActivationTap(e["model"], ["hidden", "nope"]),
        ValueError,
        r"names: 'nope' is not a submodule of MLP; valid names are \['fc', 'hidden', 'head'\]",
    ),
    "refresh_every = 0": (
        lambda e: cosmoreg_torch.CosmoReg(e["model"].parameters(), refresh_every=0),
        ValueError,
        "refresh_every must be an int >= 1, got refresh_every=0",
    ),
    "lambda_0 < 0": (
        lambda e: cosmoreg_torch.CosmoReg(e["model"].parameters(), lambda_0=-0.1),
        ValueError,
        "lambda_0 must be finite and >= 0, got lambda_0=-0.1",
    ),
    "lambda_0 = inf": (
        lambda e: cosmoreg_torch.CosmoRegLoss(lambda_0=math.inf),
        ValueError,
        "lambda_0 must be finite and >= 0, got lambda_0=inf",
    ),
    "alpha = NaN": (
        lambda e: cosmoreg_torch.CosmoReg(e["model"].parameters(), alpha=math.nan),
        ValueError,
        "alpha must be finite and >= 0, got alpha=nan",
    ),
    "max_exponent = inf": (
        lambda e: cosmoreg_torch.CosmoReg(e["model"].parameters(), max_exponent=math.inf),
        ValueError,
        "max_exponent must be finite, got max_exponent=inf",
    ),
    "skip_nonfinite not a bool": (
        lambda e: cosmoreg_torch.CosmoReg(e["model"].parameters(), skip_nonfinite=1),
        TypeError,
        "skip_nonfinite must be a bool, got skip_nonfinite=1",
    ),
    "complex parameter": (
        lambda e: cosmoreg_torch.CosmoReg([*e["model"].parameters(), _complex_param()]),
        TypeError,
        "params must be real floating-point tensors, got dtype=torch.complex64",
    ),
    "meta parameter": (
        lambda e: cosmoreg_torch.CosmoReg([_meta_param()]),
        ValueError,
        "params must hold data, got a tensor on device='meta'",
    ),
    "repeated parameter": (
        lambda e: cosmoreg_torch.CosmoReg([*e["model"].parameters(), e["model"].fc.weight]),
        ValueError,
        "params must not contain the same tensor twice",
    ),
    "non-scalar task loss": (
        lambda e: e["reg"].backward(e["logits"], e["energy"]),
        ValueError,
        r"task_loss must be a 0-dim tensor, got shape \(6, 3\)",
    ),
    "task loss without grad": (
        lambda e: e["reg"].backward(e["task"].detach(), e["energy"]),
        ValueError,
        "task_loss must require grad",
    ),
    "meta task loss": (
        lambda e: e["reg"].backward(
            torch.zeros((), device="meta", requires_grad=True), e["energy"]
        ),
        ValueError,
        "task_loss must hold data, got a tensor on device='meta'",
    ),
    "int energy": (
        lambda e: e["reg"].backward(e["task"], torch.tensor(1)),
        TypeError,
        "energy must be floating point, got dtype=torch.int64",
    ),
    "energy not a tensor": (
        lambda e: e["reg"].backward(e["task"], 1.0),
        TypeError,
        "energy must be a tensor, got float",
    ),
    "state_dict missing a key": (
        lambda e: e["reg"].load_state_dict({"count": torch.tensor(5)}),
        KeyError,
        r"missing \['lambda_t', 'task_grad_norm_sq'\]",
    ),
    "state_dict of wrong shape": (
        lambda e: e["reg"].load_state_dict({**e["reg"].state_dict(), "count": torch.ones(2)}),
        ValueError,
        r"state_dict\['count'\] must be a 0-dim tensor, got shape \(2,\)",
    ),
}


@pytest.mark.parametrize("case", TORCH_CASES)
def test_torch_bad_input_raises_and_changes_nothing(torch_env, case):
    call, error, message = TORCH_CASES[case]
    before = torch_state(torch_env)
    with pytest.raises(error, match=message):
        call(torch_env)
    assert_same(torch_state(torch_env), before)
    # The forward pass's graph is intact: the next (good) step is a reuse step and runs.
    torch_env["reg"].backward(torch_env["task"], torch_env["energy"])
    assert torch_env["reg"].count.item() == 2


# --- JAX --------------------------------------------------------------------------------------


class NNXMLP(nnx.Module):
    def __init__(self, rngs):
        self.fc, self.head = nnx.Linear(4, 5, rngs=rngs), nnx.Linear(5, 3, rngs=rngs)

    def __call__(self, x):
        return self.head(cosmoreg_jax.flax.tap(self, jnp.tanh(self.fc(x))))


def jax_losses(params, x, y):
    h = jnp.tanh(x @ params["w"])
    task = optax.softmax_cross_entropy_with_integer_labels(h @ params["v"], y).mean()
    return task, cosmoreg_jax.energy(h)


@pytest.fixture(scope="module")
def jax_env():
    """Parameters and a ``chain(cosmoreg, adam)`` state after one update; a called NNX model.

    Shared by the cases: JAX state is immutable, so every case must find it as the last left it.
    """
    params = {"w": jnp.ones((4, 5)) * 0.1, "v": jnp.ones((5, 3)) * 0.2}
    tx = optax.chain(cosmoreg_jax.cosmoreg(0.5, 1.0), optax.adam(0.1))
    x, y = jnp.arange(24.0).reshape(6, 4) / 24, jnp.array([0, 1, 2, 0, 1, 2])
    _, (grads, reg_grads) = cosmoreg_jax.value_and_split_grad(jax_losses)(params, x, y)
    updates, opt_state = tx.update(grads, tx.init(params), params, reg_grads=reg_grads)
    params = optax.apply_updates(params, updates)
    model = NNXMLP(nnx.Rngs(0))
    model(x)
    return {
        "params": params,
        "opt_state": opt_state,
        "tx": tx,
        "grads": grads,
        "reg_grads": reg_grads,
        "x": x,
        "y": y,
        "model": model,
    }


def jax_state(env):
    arrays = jax.tree.map(np.array, (env["params"], env["opt_state"], env["grads"]))
    intermediates = jax.tree.map(np.array, nnx.state(env["model"], nnx.Intermediate))
    return arrays, intermediates, jax.tree.structure((env["opt_state"], intermediates))


def _update(env, **kwargs):
    return env["tx"].update(env["grads"], env["opt_state"], env["params"], **kwargs)


H = jnp.ones((3, 4))
JAX_CASES = {
    "int activations": (
        lambda e: cosmoreg_jax.energy(jnp.ones((3, 4), jnp.int32)),
        TypeError,
        "activations must be floating point, got dtype=int32",
    ),
    "bool activations": (
        lambda e: cosmoreg_jax.energy(jnp.ones((3, 4), bool)),
        TypeError,
        "activations must be floating point, got dtype=bool",
    ),
    "complex activations": (
        lambda e: cosmoreg_jax.energy(jnp.ones((3, 4), jnp.complex64)),
        TypeError,
        "activations must be floating point, got dtype=complex64",
    ),
    "mixed-dtype leaves": (
        lambda e: cosmoreg_jax.energy({"a": H, "b": jnp.ones((3, 4), jnp.int32)}),
        TypeError,
        "activations must be floating point, got dtype=int32",
    ),
    "0-dim activations": (
        lambda e: cosmoreg_jax.energy(jnp.float32(1.0)),
        ValueError,
        "activations must have at least one dimension",
    ),
    "no vectors": (
        lambda e: cosmoreg_jax.energy(jnp.ones((0, 4))),
        ValueError,
        r"activations must not be empty, got shape \(0, 4\)",
    ),
    "zero-length vectors": (
        lambda e: cosmoreg_jax.energy([H, jnp.ones((3, 0))], reduction="mean"),
        ValueError,
        r"activations must not be empty, got shape \(3, 0\)",
    ),
    "empty pytree": (
        lambda e: cosmoreg_jax.energy({}),
        ValueError,
        "activations must hold at least one array, got an empty pytree",
    ),
    "axis out of range": (
        lambda e: cosmoreg_jax.energy(H, axis=2),
        ValueError,
        r"axis=2 is out of range for activations with 2 dimension",
    ),
    "M_scale = 0": (lambda e: cosmoreg_jax.energy(H, M_scale=0.0), ValueError, "M_scale=0.0"),
    "eps < 0": (lambda e: cosmoreg_jax.energy(H, eps=-1e-8), ValueError, "eps=-1e-08"),
    "negative g": (
        lambda e: cosmoreg_jax.cosmoreg_loss(H, -1.0),
        ValueError,
        "task_grad_norm_sq=-1.0",
    ),
    "vector g": (
        lambda e: cosmoreg_jax.adaptive_lambda(jnp.zeros(2)),
        ValueError,
        r"task_grad_norm_sq must be a Python number or a scalar array.*shape \(2,\)",
    ),
    "unknown tap name (NNX model)": (
        lambda e: cosmoreg_jax.flax.collect(e["model"], name="nope"),
        ValueError,
        "collect found no activation tapped under name='nope'",
    ),
    "refresh_every = 0": (
        lambda e: cosmoreg_jax.cosmoreg(refresh_every=0),
        ValueError,
        "refresh_every must be an int >= 1, got refresh_every=0",
    ),
    "needs_refresh with refresh_every = 0": (
        lambda e: cosmoreg_jax.needs_refresh(e["opt_state"], 0),
        ValueError,
        "refresh_every=0",
    ),
    "lambda_0 < 0": (
        lambda e: cosmoreg_jax.cosmoreg(lambda_0=-0.1),
        ValueError,
        "lambda_0 must be finite and >= 0, got lambda_0=-0.1",
    ),
    "lambda_0 = inf": (
        lambda e: cosmoreg_jax.cosmoreg(lambda_0=math.inf),
        ValueError,
        "lambda_0 must be finite and >= 0, got lambda_0=inf",
    ),
    "alpha = inf": (
        lambda e: cosmoreg_jax.cosmoreg(alpha=math.inf),
        ValueError,
        "alpha must be finite and >= 0, got alpha=inf",
    ),
    "max_exponent = NaN": (
        lambda e: cosmoreg_jax.cosmoreg(max_exponent=math.nan),
        ValueError,
        "max_exponent must be finite, got max_exponent=nan",
    ),
    "reg_grads missing": (
        lambda e: _update(e),
        ValueError,
        r"cosmoreg.update needs reg_grads=\.\.\.",
    ),
    "reg_grads of another structure": (
        lambda e: _update(e, reg_grads={"w": e["reg_grads"]["w"]}),
        ValueError,
        r"reg_grads must have the structure and shapes of updates.*reg_grads=\{'w'",
    ),
    "reg_grads of other shapes": (
        lambda e: _update(e, reg_grads={"w": jnp.ones((5, 4)), "v": e["reg_grads"]["v"]}),
        ValueError,
        r"reg_grads must have the structure and shapes of updates.*\[5, 4\]",
    ),
    "non-scalar task loss": (
        lambda e: cosmoreg_jax.value_and_split_grad(
            lambda p: (p["w"] * 2.0, cosmoreg_jax.energy(p["w"]))
        )(e["params"]),
        TypeError,
        r"needs task_loss to be a real scalar, got shape \(4, 5\)",
    ),
    "int energy": (
        lambda e: cosmoreg_jax.value_and_split_grad(lambda p: (p["w"].sum(), jnp.int32(1)))(
            e["params"]
        ),
        TypeError,
        r"needs energy to be a real scalar, got shape \(\) and dtype int32",
    ),
    "argnums out of range": (
        lambda e: cosmoreg_jax.value_and_split_grad(jax_losses, argnums=3)(
            e["params"], e["x"], e["y"]
        ),
        TypeError,
        r"argnums=3 needs at least 4 positional arguments, got 3",
    ),
    "current_lambda without CosmoReg": (
        lambda e: cosmoreg_jax.current_lambda(optax.adam(0.1).init(e["params"])),
        ValueError,
        "opt_state holds no CosmoRegState",
    ),
}


@pytest.mark.parametrize("case", JAX_CASES)
def test_jax_bad_input_raises_and_changes_nothing(jax_env, case):
    call, error, message = JAX_CASES[case]
    before = jax_state(jax_env)
    with pytest.raises(error, match=message):
        call(jax_env)
    after = jax_state(jax_env)
    jax.tree.map(np.testing.assert_array_equal, after[:2], before[:2])
    assert after[2] == before[2]
    # The NNX model still holds its tapped activation (collect pops it: tap it again), and the
    # state still updates.
    assert len(cosmoreg_jax.flax.collect(jax_env["model"])) == 1
    jax_env["model"](jax_env["x"])
    _update(jax_env, reg_grads=jax_env["reg_grads"])


def test_there_are_at_least_twenty_cases_per_framework():
    assert len(TORCH_CASES) >= 20 and len(JAX_CASES) >= 20


# --- Fuzzing the energy ------------------------------------------------------------------------

DTYPES = ["float16", "bfloat16", "float32", "float64", "int32", "bool", "complex64"]


@st.composite
def energy_inputs(draw):
    """Float64 values (rounded later to ``dtype``) of any sign and magnitude up to 1e22."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    magnitude = draw(st.sampled_from([1e-20, 1e-3, 1.0, 1e3, 1e9, 1e18, 1e22]))
    values = draw(
        hnp.arrays(np.float64, shape, elements=st.floats(-1.0, 1.0, allow_subnormal=False))
    )
    return {
        "h": values * magnitude,
        "dtype": draw(st.sampled_from(DTYPES)),
        "M_scale": draw(st.sampled_from([0.5, 1.0, 2.0, 10.0])),
        "reduction": draw(st.sampled_from(["sum", "mean"])),
    }


def expected_outcome(h, dtype, M_scale):
    """The documented error for these inputs, or whether the energy must be finite (True),
    non-finite (False), or either (None, within a factor 2 of the bound)."""
    if dtype in ("int32", "bool", "complex64"):
        return TypeError
    if h.ndim == 0:
        return ValueError
    if h.size == 0:
        return ValueError
    compute = np.float64 if dtype == "float64" else np.float32
    big = float(np.finfo(compute).max)
    s = np.square(h).sum(axis=-1)
    phi = np.abs(-(s + 1e-8) * np.log(s + 1e-8)) + np.square(s / M_scale)
    bound = min(1.0, M_scale) * math.sqrt(big)
    if s.max() <= 0.5 * bound and phi.sum() <= 0.5 * big:
        return True
    if s.max() >= 2.0 * bound:
        return False
    return None


def rounded(h, dtype):
    """``h`` rounded to ``dtype`` (as float64 again), or None if that overflows."""
    if dtype in ("int32", "bool", "complex64"):
        return h
    with np.errstate(over="ignore"):
        out = np.asarray(jnp.asarray(h, dtype).astype(jnp.float64))
    return out if np.isfinite(out).all() else None


def check_energy(energy_fn, inputs):
    h64 = rounded(inputs["h"], inputs["dtype"])
    if h64 is None:  # the input itself is not finite in its dtype
        return
    outcome = expected_outcome(h64, inputs["dtype"], inputs["M_scale"])
    if outcome in (TypeError, ValueError):
        with pytest.raises(outcome, match="activations must"):
            energy_fn(inputs)
        return
    value = energy_fn(inputs)
    assert value.shape == ()
    if outcome is not None:
        assert bool(np.isfinite(value)) == outcome, (value, outcome)


def torch_energy(inputs):
    dtype = getattr(torch, inputs["dtype"])
    h = torch.from_numpy(np.asarray(inputs["h"]))
    h = (h != 0) if dtype == torch.bool else h.to(dtype)
    out = cosmoreg_torch.energy(h, M_scale=inputs["M_scale"], reduction=inputs["reduction"])
    return out.numpy()


def jax_energy(inputs):
    h = jnp.asarray(inputs["h"]).astype(inputs["dtype"])
    out = cosmoreg_jax.energy(h, M_scale=inputs["M_scale"], reduction=inputs["reduction"])
    return np.asarray(out)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(energy_inputs())
def test_fuzz_torch_energy(inputs):
    with np.errstate(over="ignore", invalid="ignore"):
        check_energy(torch_energy, inputs)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(energy_inputs())
def test_fuzz_jax_energy(inputs):
    with np.errstate(over="ignore", invalid="ignore"):
        check_energy(jax_energy, inputs)


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("M_scale", [0.5, 2.0])
def test_float32_energy_overflows_exactly_at_the_bound(framework, M_scale):
    # One vector with s = ‖h‖² just below and just above min(1, M)·√F (F the float32 max).
    bound = min(1.0, M_scale) * math.sqrt(float(np.finfo(np.float32).max))
    energy = torch_energy if framework == "torch" else jax_energy
    for factor, finite in ((0.999, True), (1.001, False)):
        h = np.array([[math.sqrt(factor * bound), 0.0]])
        inputs = {"h": h, "dtype": "float32", "M_scale": M_scale, "reduction": "sum"}
        with np.errstate(over="ignore", invalid="ignore"):
            assert bool(np.isfinite(energy(inputs))) == finite, factor
