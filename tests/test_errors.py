"""Bad input gets a clear error naming the argument and its value, the same in both backends."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import cosmoreg_jax
import cosmoreg_torch

BACKENDS = {
    "torch": (cosmoreg_torch, lambda x: torch.tensor(x), "dim"),
    "jax": (cosmoreg_jax, lambda x: jnp.asarray(x), "axis"),
}
H = np.ones((3, 4), dtype=np.float32)

BAD_HYPERPARAMETERS = [
    ({"M_scale": 0.0}, "M_scale=0.0"),
    ({"M_scale": -1.0}, "M_scale=-1.0"),
    ({"M_scale": math.inf}, "M_scale=inf"),
    ({"M_scale": math.nan}, "M_scale=nan"),
    ({"lambda_0": -0.1}, "lambda_0=-0.1"),
    ({"alpha": -1.0}, "alpha=-1.0"),
    ({"eps": 0.0}, "eps=0.0"),
    ({"eps": -1e-8}, "eps=-1e-08"),
    ({"reduction": "max"}, "reduction='max'"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kwargs", "message"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters(backend, kwargs, message):
    lib, array, _ = BACKENDS[backend]
    with pytest.raises(ValueError, match=message):
        lib.cosmoreg_loss(array(H), 1.0, **kwargs)
    if backend == "torch":
        with pytest.raises(ValueError, match=message):
            cosmoreg_torch.CosmoRegLoss(**kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("h", "axis", "error", "message"),
    [
        (np.ones((3, 4), dtype=np.int32), -1, TypeError, "floating point, got dtype"),
        (np.float32(1.0), -1, ValueError, "0-dim"),
        (H, 2, ValueError, r"=2 is out of range for activations with 2 dimension"),
        (H, -3, ValueError, r"=-3 is out of range"),
        (H, (0, -2), ValueError, "same axis twice"),
    ],
)
def test_bad_activations(backend, h, axis, error, message):
    lib, array, axis_name = BACKENDS[backend]
    with pytest.raises(error, match=message):
        lib.energy(array(h), **{axis_name: axis})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("g", [-1.0, -1e-12, math.nan])
def test_bad_task_grad_norm_sq(backend, g):
    lib, array, _ = BACKENDS[backend]
    with pytest.raises(ValueError, match=f"task_grad_norm_sq={g!r}"):
        lib.cosmoreg_loss(array(H), g)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_activations(backend):
    lib, _, _ = BACKENDS[backend]
    with pytest.raises(ValueError, match="at least one"):
        lib.energy([])


def test_module_state_is_untouched_by_bad_input():
    loss_fn = cosmoreg_torch.CosmoRegLoss()
    loss_fn(torch.ones(2, 3), 10.0)
    before = loss_fn.current_lambda.clone()
    bad_calls = [
        (torch.ones(2, 3), -1.0),
        (torch.ones(2, 3, dtype=torch.int64), 0.0),
        (torch.tensor(1.0), 0.0),
        (torch.ones(2, 3), torch.zeros(2)),
    ]
    for h, g in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            loss_fn(h, g)
        assert torch.equal(loss_fn.current_lambda, before)


def test_check_finite_raises_before_updating_lambda():
    loss_fn = cosmoreg_torch.CosmoRegLoss(check_finite=True)
    loss_fn(torch.ones(2, 3), 10.0)
    before = loss_fn.current_lambda.clone()
    for bad in (math.nan, math.inf):
        h = torch.ones(2, 3)
        h[1, 2] = bad
        with pytest.raises(FloatingPointError, match="non-finite"):
            loss_fn(h, 0.0)
        assert torch.equal(loss_fn.current_lambda, before)
    # Off by default: NaN propagates into the loss rather than raising.
    assert torch.isnan(cosmoreg_torch.CosmoRegLoss()(torch.full((2, 3), math.nan), 0.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_scalar_g_is_rejected(backend):
    lib, array, _ = BACKENDS[backend]
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        lib.adaptive_lambda(array(np.zeros(2)))
