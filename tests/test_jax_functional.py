"""cosmoreg_jax under jit / grad / vmap, pytrees, stop_gradient and the dtype policy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cosmoreg_jax
from cosmoreg_jax import functional as F
from parity_tests import oracle


def test_jit_grad_vmap_agree_with_oracle():
    h = np.random.default_rng(0).standard_normal((6, 4, 5))
    loss = jax.jit(lambda x, g: cosmoreg_jax.cosmoreg_loss(x, g, M_scale=2.0))
    np.testing.assert_allclose(loss(h, 3.0), oracle.cosmoreg_loss(h, 3.0, M_scale=2.0), rtol=1e-13)
    grad = jax.jit(jax.grad(lambda x: cosmoreg_jax.cosmoreg_loss(x, 3.0, M_scale=2.0)))(h)
    np.testing.assert_allclose(
        grad, oracle.cosmoreg_loss_grad(h, 3.0, M_scale=2.0), rtol=1e-12, atol=1e-300
    )
    per_sample = jax.vmap(lambda x: cosmoreg_jax.energy(x, M_scale=2.0))(h)
    np.testing.assert_allclose(per_sample, [oracle.energy(x, M_scale=2.0) for x in h], rtol=1e-13)


def test_lambda_is_stop_gradient():
    h = jnp.ones((2, 3))
    dg = jax.grad(lambda g: cosmoreg_jax.cosmoreg_loss(h, g))(1.0)
    assert dg == 0.0


def test_traced_hyperparameters_under_jit():
    h = np.random.default_rng(1).standard_normal((3, 8))
    fn = jax.jit(lambda M, l0, a: cosmoreg_jax.cosmoreg_loss(h, 2.0, M, l0, a))
    np.testing.assert_allclose(
        fn(3.0, 0.2, 0.1), oracle.cosmoreg_loss(h, 2.0, 3.0, 0.2, 0.1), rtol=1e-13
    )


def test_gradient_with_respect_to_m_scale():
    h = np.random.default_rng(2).standard_normal((4, 3))
    dM = jax.grad(lambda M: cosmoreg_jax.energy(h, M))(2.0)
    step = 1e-6
    fd = (oracle.energy(h, 2.0 + step) - oracle.energy(h, 2.0 - step)) / (2 * step)
    np.testing.assert_allclose(dM, fd, rtol=1e-7)


def test_energy_sums_over_pytree_leaves():
    rng = np.random.default_rng(3)
    tree = {"a": rng.standard_normal((4, 6)), "b": [rng.standard_normal((2, 3, 6)), None]}
    total = cosmoreg_jax.energy(tree, reduction="mean")
    expected = oracle.energy(tree["a"], reduction="mean")
    expected += oracle.energy(tree["b"][0], reduction="mean")
    np.testing.assert_allclose(total, expected, rtol=1e-13)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64])
def test_dtype_policy(dtype):
    h = jnp.ones((4, 8), dtype)
    loss, grad = jax.value_and_grad(lambda x: cosmoreg_jax.cosmoreg_loss(x, 1.0))(h)
    expected = jnp.float64 if dtype == jnp.float64 else jnp.float32
    assert loss.dtype == expected
    assert grad.dtype == dtype
    assert F.adaptive_lambda(1.0, dtype=F.compute_dtype(dtype)).dtype == expected


def test_float32_lambda_from_float32_g_stays_float32():
    assert cosmoreg_jax.adaptive_lambda(jnp.float32(2.0)).dtype == jnp.float32
