"""cosmoreg_torch: the module's state, the tensor-g path, dtype policy and multi-layer energies."""

import math

import numpy as np
import pytest
import torch

import cosmoreg_torch
from cosmoreg_torch import functional as F
from parity_tests import oracle


def test_current_lambda_updates_every_call_and_round_trips():
    loss_fn = cosmoreg_torch.CosmoRegLoss(2.0, 0.02, 0.1)
    h = torch.randn(4, 8, dtype=torch.float64)
    for g in (0.0, 1.5, 900.0):
        loss_fn(h, g)
        np.testing.assert_allclose(
            loss_fn.current_lambda.item(), oracle.adaptive_lambda(g, 0.02, 0.1), rtol=1e-6
        )
    restored = cosmoreg_torch.CosmoRegLoss(2.0, 0.02, 0.1)
    restored.load_state_dict(loss_fn.state_dict())
    assert restored.current_lambda.item() == loss_fn.current_lambda.item()


def test_tensor_g_is_used_without_host_sync(monkeypatch):
    h = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    g = torch.tensor(2.5, dtype=torch.float64)
    loss_fn = cosmoreg_torch.CosmoRegLoss(3.0)

    def no_sync(*args, **kwargs):
        raise AssertionError("host sync: a tensor was read back to Python")

    for name in ("item", "__float__", "__bool__", "tolist", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, no_sync)
    loss = loss_fn(h, g)
    monkeypatch.undo()
    expected = oracle.cosmoreg_loss(h.detach().numpy(), 2.5, M_scale=3.0)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)


def test_lambda_carries_no_gradient_to_g():
    g = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, 4, dtype=torch.float64)
    loss = F.cosmoreg_loss(h, g)
    assert not loss.requires_grad


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_policy(dtype):
    h = torch.randn(4, 8).to(dtype).requires_grad_(True)
    loss = cosmoreg_torch.CosmoRegLoss()(h, 1.0)
    expected = torch.float64 if dtype == torch.float64 else torch.float32
    assert loss.dtype == expected
    assert F.adaptive_lambda(1.0, dtype=F.compute_dtype(dtype)).dtype == expected
    loss.backward()
    assert h.grad.dtype == dtype


@pytest.mark.parametrize("container", [list, tuple, dict])
def test_energy_of_several_layers_is_the_sum(container):
    rng = np.random.default_rng(0)
    layers = [rng.standard_normal((5, 7)), rng.standard_normal((5, 3, 4))]
    tensors = [torch.tensor(x) for x in layers]
    arg = dict(zip("ab", tensors, strict=True)) if container is dict else container(tensors)
    total = F.energy(arg, M_scale=2.0, reduction="mean")
    expected = sum(oracle.energy(x, M_scale=2.0, reduction="mean") for x in layers)
    np.testing.assert_allclose(total.item(), expected, rtol=1e-12)


def test_several_reduction_dims():
    h = np.random.default_rng(1).standard_normal((3, 4, 5, 6))
    total = F.energy(torch.tensor(h), dim=(1, -1))
    np.testing.assert_allclose(total.item(), oracle.energy(h, axis=(1, 3)), rtol=1e-12)


def test_potential_matches_oracle_and_clamp_is_hit():
    s = np.array([0.0, 1e-9, 0.3, 2.0, 1e6])
    np.testing.assert_allclose(
        F.potential(torch.tensor(s), M_scale=0.5).numpy(),
        oracle.potential(s, M_scale=0.5),
        rtol=1e-13,
    )
    lam = F.adaptive_lambda(1e9, lambda_0=0.3, alpha=1.0, dtype=torch.float64).item()
    assert lam == pytest.approx(0.3 * math.exp(-70.0), rel=1e-14)
