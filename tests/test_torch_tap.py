"""cosmoreg_torch.ActivationTap: what it captures, its energy, its hooks' lifetime, its errors."""

import numpy as np
import pytest
import torch
from torch import nn

import cosmoreg_torch
from parity_tests import oracle


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.block = nn.Sequential(nn.Linear(12, 5), nn.Tanh())
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        c = torch.relu(self.conv(x))  # (N, 3, 2, 2)
        return self.head(self.block(c.flatten(1)))


VALID_NAMES = ["conv", "block", "block.0", "block.1", "head"]


def make(seed=0):
    torch.manual_seed(seed)
    return Net().double(), torch.randn(4, 2, 2, 2, dtype=torch.float64)


def by_hand(net, x):
    conv = nn.functional.conv2d(x, net.conv.weight, net.conv.bias, padding=1)
    linear = torch.relu(conv).flatten(1) @ net.block[0].weight.T + net.block[0].bias
    return {"conv": conv, "block.0": linear, "block": torch.tanh(linear)}


def test_captures_the_outputs_of_this_forward_pass():
    net, x = make()
    tap = cosmoreg_torch.ActivationTap(net, ["conv", "block.0", "block"])  # active at once
    net(x)
    expected = by_hand(net, x)
    assert list(tap.activations) == ["conv", "block.0", "block"]
    for name, h in expected.items():
        np.testing.assert_allclose(tap.activations[name].detach().numpy(), h.detach().numpy())
        assert tap.activations[name].grad_fn is not None, "kept on the graph"

    x2 = 2 * x + 1
    net(x2)  # the next pass overwrites
    np.testing.assert_allclose(
        tap.activations["block"].detach().numpy(), by_hand(net, x2)["block"].detach().numpy()
    )
    tap.remove()


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_energy_equals_the_oracle_energy_of_the_captured_activations(reduction):
    net, x = make()
    with cosmoreg_torch.ActivationTap(net, ["conv", "block"]) as tap:
        net(x)
        energy = tap.energy(M_scale=2.0, eps=1e-6, dim=1, reduction=reduction)
    hand = {k: v.detach().numpy() for k, v in by_hand(net, x).items()}
    # conv is (N, C, H, W): dim=1 makes one vector per pixel; block is (N, 5).
    expected = oracle.energy(hand["conv"], 2.0, 1e-6, 1, reduction) + oracle.energy(
        hand["block"], 2.0, 1e-6, 1, reduction
    )
    np.testing.assert_allclose(energy.item(), expected, rtol=1e-12)
    assert energy.requires_grad


def test_context_manager_removes_the_hooks():
    net, x = make()
    with cosmoreg_torch.ActivationTap(net, ["block", "head"]) as tap:
        assert isinstance(tap, cosmoreg_torch.ActivationTap)
        assert len(net.block._forward_hooks) == len(net.head._forward_hooks) == 1
        net(x)
    assert all(not m._forward_hooks for m in net.modules())
    assert set(tap.activations) == {"block", "head"}, "kept until clear()"
    tap.clear()
    net(x)
    assert tap.activations == {}, "no capture after the hooks are gone"
    tap.remove()  # idempotent


def test_energy_needs_a_capture_since_the_last_clear():
    net, x = make()
    tap = cosmoreg_torch.ActivationTap(net, ["block", "head"])
    with pytest.raises(RuntimeError, match=r"no output captured for \['block', 'head'\]"):
        tap.energy()
    net(x)
    tap.energy()
    tap.clear()
    with pytest.raises(RuntimeError, match="no output captured"):
        tap.energy()
    tap.remove()


def test_invalid_names_are_rejected_before_any_hook():
    net, _ = make()
    for names in (["block", "nope"], ["head", "head.weight"], ["block", ""]):
        bad = names[1]
        with pytest.raises(ValueError, match=f"{bad!r} is not a submodule of Net") as err:
            cosmoreg_torch.ActivationTap(net, names)
        assert f"valid names are {VALID_NAMES}" in str(err.value)
        assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(ValueError, match=r"at least one submodule, got names=\(\)"):
        cosmoreg_torch.ActivationTap(net, [])
    with pytest.raises(ValueError, match=r"must not repeat a name, got names=\['head', 'head'\]"):
        cosmoreg_torch.ActivationTap(net, ["head", "head"])
    with pytest.raises(TypeError, match=r"got the string names='head'; use names=\['head'\]"):
        cosmoreg_torch.ActivationTap(net, "head")


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)  # returns (output, (h_n, c_n))
        self.shared = nn.Linear(4, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.shared(torch.tanh(self.shared(out)))  # ``shared`` runs twice


def test_tuple_outputs_give_their_first_element_and_reruns_their_last_output():
    torch.manual_seed(0)
    net = Recurrent().double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    with cosmoreg_torch.ActivationTap(net, ["lstm", "shared"]) as tap:
        y = net(x)
    out, _ = net.lstm(x)
    np.testing.assert_allclose(tap.activations["lstm"].detach().numpy(), out.detach().numpy())
    np.testing.assert_allclose(tap.activations["shared"].detach().numpy(), y.detach().numpy())


def test_non_tensor_output_raises():
    class Dict(nn.Module):
        def forward(self, x):
            return {"h": x}

    net = nn.Sequential(Dict())
    with (
        cosmoreg_torch.ActivationTap(net, ["0"]),
        pytest.raises(TypeError, match=r"submodule '0' \(Dict\) returned dict"),
    ):
        net(torch.ones(1, 2))
