"""Property tests over random shapes, scales and hyper-parameters, and float64 gradient checks."""

import jax
import jax.numpy as jnp
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import cosmoreg_jax
import cosmoreg_torch
from parity_tests import harness

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
    layout = "NCHW" if ndim == 4 and draw(st.booleans()) else "BD"
    seed = draw(st.integers(0, 2**32 - 1))
    log_scale = draw(st.floats(-4, 4))
    h = np.random.default_rng(seed).standard_normal(shape) * 10.0**log_scale
    meta = {
        "name": "hypothesis",
        "layout": layout,
        "M_scale": draw(st.floats(0.1, 100.0)),
        "lambda_0": draw(st.floats(0.0, 1.0, allow_subnormal=False)),
        "alpha": draw(st.floats(0.0, 1.0, allow_subnormal=False)),
        "g": draw(st.floats(0.0, 1e4, allow_subnormal=False)),
        "reduction": draw(st.sampled_from(["sum", "mean"])),
    }
    return meta, h


@SETTINGS
@given(cases(), st.sampled_from(["float64", "float32"]))
def test_random_cases_within_tolerance(case, dtype):
    meta, h = case
    bad = [r for r in harness.evaluate(meta, h, dtype) if not r.ok]
    assert not bad, [(r.quantity, r.pair, r.max_rel) for r in bad]


def _activations(seed, shape=(3, 4)):
    return np.random.default_rng(seed).standard_normal(shape) * 1.5


def test_torch_gradcheck_float64():
    h = torch.tensor(_activations(0), requires_grad=True)
    for reduction in ("sum", "mean"):
        assert torch.autograd.gradcheck(
            lambda x, r=reduction: cosmoreg_torch.cosmoreg_loss(x, 0.5, M_scale=3.0, reduction=r),
            (h,),
        )
        assert torch.autograd.gradgradcheck(
            lambda x, r=reduction: cosmoreg_torch.energy(x, M_scale=3.0, reduction=r), (h,)
        )
    assert torch.autograd.gradcheck(lambda s: cosmoreg_torch.potential(s, 2.0), (h.abs(),))


def test_jax_check_grads_float64():
    h = jnp.asarray(_activations(1))
    for reduction in ("sum", "mean"):
        check_grads(
            lambda x, r=reduction: cosmoreg_jax.cosmoreg_loss(x, 0.5, M_scale=3.0, reduction=r),
            (h,),
            order=2,
        )
    check_grads(lambda s, M: cosmoreg_jax.potential(s, M), (jnp.abs(h), 2.0), order=2)
    assert jax.config.jax_enable_x64
