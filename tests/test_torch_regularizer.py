"""cosmoreg_torch.CosmoReg: grads, λ_t, accumulation, optimizers, state and the amortized λ.

Every expected gradient comes from an independent computation: the model's forward written out
by hand, the energy written out with plain autograd (product rule, not the closed-form φ'), two
separate ``torch.autograd.grad`` calls, and λ from the NumPy oracle.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

import cosmoreg_torch
from parity_tests import oracle

M_SCALE, LAMBDA_0, ALPHA = 2.0, 0.5, 2.0
EPS = 1e-8


class MLP(nn.Module):
    """fc1 → tanh → fc2 → hidden (tanh, tapped) → head; ``unused`` takes part in nothing."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.hidden = nn.Tanh()
        self.unused = nn.Parameter(torch.ones(2))

    def forward(self, x):
        return self.head(self.hidden(self.fc2(torch.tanh(self.fc1(x)))))


def make_model(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return MLP().to(dtype)


def batch(k, dtype=torch.float64, size=10):
    gen = torch.Generator().manual_seed(100 + k)
    x = torch.randn(size, 6, generator=gen, dtype=dtype)
    y = torch.randint(0, 3, (size,), generator=gen)
    return x, y


def forward(model, tap, x, y):
    task = nn.functional.cross_entropy(model(x), y)
    return task, tap.energy(M_scale=M_SCALE)


def reference(model, x, y, lam=None, lambda_0=LAMBDA_0, alpha=ALPHA):
    """(task grads, reg grads, g, λ) by hand, grads by parameter name; λ from the oracle unless
    given."""
    names, params = zip(*model.named_parameters(), strict=True)
    h = torch.tanh(model.fc2(torch.tanh(model.fc1(x))))
    task = nn.functional.cross_entropy(model.head(h), y)
    s = torch.square(h).sum(dim=-1)
    energy = (-(s + EPS) * torch.log(s + EPS) + s * s / M_SCALE**2).sum()
    task_grads = torch.autograd.grad(task, params, retain_graph=True, allow_unused=True)
    reg_grads = torch.autograd.grad(energy, params, allow_unused=True)
    g = sum(float(np.sum(t.double().numpy() ** 2)) for t in task_grads if t is not None)
    if lam is None:
        lam = oracle.adaptive_lambda(g, lambda_0, alpha)
    task_grads = dict(zip(names, task_grads, strict=True))
    reg_grads = dict(zip(names, reg_grads, strict=True))
    return task_grads, reg_grads, g, lam


def combined(task_grads, reg_grads, lam):
    """task + λ·reg per parameter, as float64 arrays (None where neither reaches it)."""
    out = {}
    for name, t in task_grads.items():
        r = reg_grads[name]
        if t is None and r is None:
            out[name] = None
            continue
        total = 0.0
        if t is not None:
            total = total + t.double().numpy()
        if r is not None:
            total = total + lam * r.double().numpy()
        out[name] = total
    return out


def assert_grads(model, expected, rtol=1e-12, atol=1e-15):
    assert set(expected) == {name for name, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        e = expected[name]
        if e is None:
            assert p.grad is None, name
        else:
            np.testing.assert_allclose(
                p.grad.double().numpy(), e, rtol=rtol, atol=atol, err_msg=name
            )


def test_backward_fills_task_plus_lambda_reg_grads():
    model = make_model()
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA)
    x, y = batch(0)
    task_grads, reg_grads, g, lam = reference(model, x, y)
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        task, energy = forward(model, tap, x, y)
        returned = reg.backward(task, energy)

    assert not returned.requires_grad
    assert returned.item() == task.item()
    expected = combined(task_grads, reg_grads, lam)
    assert_grads(model, expected)
    assert model.unused.grad is None
    # The regularizer's share (fc1.weight) is large enough that leaving it out would fail, and
    # α·g is neither ≈ 0 nor at the clamp, so a wrong g would give a visibly wrong λ.
    fc1_reg, fc1_task = reg_grads["fc1.weight"], task_grads["fc1.weight"]
    assert lam * fc1_reg.norm().item() > 1e-2 * fc1_task.norm().item()
    assert 0.1 < ALPHA * g < 5
    assert reg.task_grad_norm_sq.item() == pytest.approx(g, rel=1e-12)
    assert reg.lambda_t.item() == pytest.approx(lam, rel=1e-12)
    assert reg.count.item() == 1
    assert reg.lambda_t.dtype == reg.task_grad_norm_sq.dtype == torch.float64
    assert reg.count.dtype == torch.int64
    assert reg.lambda_t.dim() == reg.task_grad_norm_sq.dim() == reg.count.dim() == 0


def test_initial_state():
    reg = cosmoreg_torch.CosmoReg(make_model().parameters(), 0.03, 0.1)
    assert reg.lambda_t.item() == pytest.approx(0.03, rel=1e-15)
    assert reg.task_grad_norm_sq.item() == 0.0
    assert reg.count.item() == 0


@pytest.mark.parametrize(
    ("dtype", "state_dtype"),
    [
        (torch.float32, torch.float32),
        (torch.float64, torch.float64),
        (torch.bfloat16, torch.float32),
    ],
)
def test_state_dtype_follows_params(dtype, state_dtype):
    model = make_model(dtype)
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA)
    assert reg.lambda_t.dtype == reg.task_grad_norm_sq.dtype == state_dtype
    x, y = batch(0, dtype)
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        reg.backward(*forward(model, tap, x, y))
    assert reg.lambda_t.dtype == state_dtype
    assert all(p.grad.dtype == dtype for p in model.parameters() if p.grad is not None)


def test_float32_matches_float64_reference():
    model = make_model(torch.float32)
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA)
    x, y = batch(0, torch.float32)
    model64 = make_model(torch.float64)
    model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    task_grads, reg_grads, _, lam = reference(model64, x.double(), y)
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        reg.backward(*forward(model, tap, x, y))
    assert_grads(model, combined(task_grads, reg_grads, lam), rtol=1e-4, atol=1e-6)
    assert reg.lambda_t.item() == pytest.approx(lam, rel=1e-5)


def test_no_host_sync(monkeypatch):
    model = make_model()
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA, refresh_every=2)
    x, y = batch(0)
    task_grads, reg_grads, _, lam = reference(model, x, y)

    def no_sync(*args, **kwargs):
        raise AssertionError("host sync: a tensor was read back to Python")

    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        first = forward(model, tap, x, y)
        second = forward(model, tap, x, y)
        for name in ("item", "__float__", "__bool__", "__int__", "__index__", "tolist", "numpy"):
            monkeypatch.setattr(torch.Tensor, name, no_sync)
        reg.backward(*first)  # a refresh step
        reg.backward(*second)  # a reuse step
        monkeypatch.undo()
    # Two identical steps with the same λ: twice the single-step gradient.
    once = combined(task_grads, reg_grads, lam)
    expected = {name: None if e is None else 2 * e for name, e in once.items()}
    assert_grads(model, expected)
    assert reg.count.item() == 2


def _count_node_calls(tensor, counts, key):
    tensor.grad_fn.register_hook(
        lambda grad_inputs, grad_outputs: counts.update({key: counts[key] + 1})
    )


@pytest.mark.parametrize("refresh", [True, False])
def test_energy_backward_runs_only_upstream_of_the_tap(refresh):
    model = make_model()
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA, refresh_every=2)
    x, y = batch(0)
    if not refresh:  # advance to a reuse step
        with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
            reg.backward(*forward(model, tap, x, y))
        model.zero_grad()
    task_grads, reg_grads, _, _ = reference(model, x, y)

    counts = {"head": 0, "hidden": 0}
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        logits = model(x)
        _count_node_calls(logits, counts, "head")
        _count_node_calls(tap.activations["hidden"], counts, "hidden")
        task = nn.functional.cross_entropy(logits, y)
        reg.backward(task, tap.energy(M_scale=M_SCALE))

    # The head is downstream of the tap: its backward runs once, for the task loss alone. The
    # tapped layer's node runs twice on a refresh step (task, then energy), once on a reuse step.
    assert counts == {"head": 1, "hidden": 2 if refresh else 1}
    params = dict(model.named_parameters())
    for name in ("head.weight", "head.bias"):
        assert reg_grads[name] is None
        np.testing.assert_allclose(params[name].grad.numpy(), task_grads[name].numpy(), rtol=1e-14)
    assert reg_grads["fc2.weight"] is not None


def test_gradient_accumulation_sums_micro_batches_with_their_own_lambda():
    model = make_model()
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA)
    micro = [batch(k, size=4) for k in range(3)]
    refs = [reference(model, x, y) for x, y in micro]
    lambdas = [lam for *_, lam in refs]
    assert len({round(lam, 12) for lam in lambdas}) == 3, "each micro-batch has its own λ_k"

    model.zero_grad()
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        for x, y in micro:
            reg.backward(*forward(model, tap, x, y))

    per_batch = [combined(t, r, lam) for t, r, _, lam in refs]
    expected = {
        name: None if grad is None else sum(parts[name] for parts in per_batch)
        for name, grad in per_batch[0].items()
    }
    assert_grads(model, expected)
    assert reg.count.item() == 3
    assert reg.lambda_t.item() == pytest.approx(lambdas[-1], rel=1e-12)
    assert reg.task_grad_norm_sq.item() == pytest.approx(refs[-1][2], rel=1e-12)


def _sgd_step(params, grads, state, lr=0.1):
    for name, grad in grads.items():
        if grad is not None:
            params[name] -= lr * grad


def _adam_step(params, grads, state, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
    state["t"] = state.get("t", 0) + 1
    t = state["t"]
    for name, grad in grads.items():
        if grad is None:
            continue
        m = betas[0] * state.get(("m", name), 0.0) + (1 - betas[0]) * grad
        v = betas[1] * state.get(("v", name), 0.0) + (1 - betas[1]) * grad**2
        state["m", name], state["v", name] = m, v
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        params[name] -= lr * m_hat / (np.sqrt(v_hat) + eps)


@pytest.mark.parametrize(
    ("make_optimizer", "manual_step"),
    [
        (lambda params: torch.optim.SGD(params, lr=0.1), _sgd_step),
        (lambda params: torch.optim.Adam(params, lr=1e-2), _adam_step),
    ],
    ids=["sgd", "adam"],
)
def test_optimizer_steps_match_manual_updates(make_optimizer, manual_step):
    steps = 3
    model = make_model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = make_optimizer(model.parameters())
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA)
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        for k in range(steps):
            optimizer.zero_grad()
            reg.backward(*forward(model, tap, *batch(k)))
            optimizer.step()

    # The same run by hand: NumPy parameters, grads from the independent reference.
    manual = make_model()
    manual.load_state_dict(initial)
    arrays = {name: p.detach().numpy().copy() for name, p in manual.named_parameters()}
    state = {}
    for k in range(steps):
        with torch.no_grad():
            for name, p in manual.named_parameters():
                p.copy_(torch.from_numpy(arrays[name]))
        task_grads, reg_grads, _, lam = reference(manual, *batch(k))
        manual_step(arrays, combined(task_grads, reg_grads, lam), state)

    for name, p in model.named_parameters():
        np.testing.assert_allclose(
            p.detach().numpy(), arrays[name], rtol=1e-10, atol=1e-13, err_msg=name
        )
    moved = np.abs(arrays["fc1.weight"] - initial["fc1.weight"].numpy()).max()
    assert moved > 1e-3, "training moved the weights"
    assert reg.count.item() == steps


def test_refresh_every_recomputes_lambda_on_multiples_only():
    k, steps = 3, 7
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA, refresh_every=k)
    lam_last, g_last = LAMBDA_0, 0.0
    seen = []
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        for step in range(steps):
            x, y = batch(step)
            if step % k == 0:
                task_grads, reg_grads, g_last, lam_last = reference(model, x, y)
            else:
                # A reuse step is the plain gradient of L_task + λ_last·S.
                task_grads, reg_grads, _, _ = reference(model, x, y, lam=lam_last)
            counts = {"hidden": 0}
            optimizer.zero_grad()
            task, energy = forward(model, tap, x, y)
            _count_node_calls(tap.activations["hidden"], counts, "hidden")
            reg.backward(task, energy)

            assert_grads(model, combined(task_grads, reg_grads, lam_last))
            assert reg.lambda_t.item() == pytest.approx(lam_last, rel=1e-12)
            assert reg.task_grad_norm_sq.item() == pytest.approx(g_last, rel=1e-12)
            assert reg.count.item() == step + 1
            assert counts["hidden"] == (2 if step % k == 0 else 1), step
            seen.append(lam_last)
            optimizer.step()
    assert len({round(lam, 12) for lam in seen}) == 3, "λ took three values: steps 0, 3, 6"


def test_state_dict_round_trip():
    model = make_model()
    reg = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA, refresh_every=2)
    with cosmoreg_torch.ActivationTap(model, ["hidden"]) as tap:
        for step in range(3):
            reg.backward(*forward(model, tap, *batch(step)))
        saved = reg.state_dict()
        assert set(saved) == {"count", "lambda_t", "task_grad_norm_sq", "skipped_steps"}
        values = {key: value.item() for key, value in saved.items()}
        assert values["count"] == 3
        reg.backward(*forward(model, tap, *batch(3)))
        assert {key: value.item() for key, value in saved.items()} == values, "copies"

        restored = cosmoreg_torch.CosmoReg(model.parameters(), LAMBDA_0, ALPHA, refresh_every=2)
        restored.load_state_dict(saved)
        assert {key: getattr(restored, key).item() for key in saved} == values
        assert restored.count.dtype == torch.int64
        # count = 3 is odd, so the restored helper's next step reuses λ (no refresh).
        restored.backward(*forward(model, tap, *batch(9)))
    assert restored.lambda_t.item() == values["lambda_t"]
    assert restored.count.item() == 4


def test_load_state_dict_rejects_missing_and_bad_keys():
    reg = cosmoreg_torch.CosmoReg(make_model().parameters(), LAMBDA_0, ALPHA)
    good = {"count": torch.tensor(5), "lambda_t": torch.tensor(0.2), "task_grad_norm_sq": 0.7}
    with pytest.raises(KeyError, match=r"missing \['lambda_t'\]"):
        reg.load_state_dict({k: v for k, v in good.items() if k != "lambda_t"})
    with pytest.raises(KeyError, match=r"unexpected \['extra'\]"):
        reg.load_state_dict({**good, "extra": 1})
    with pytest.raises(ValueError, match=r"state_dict\['lambda_t'\] must be a 0-dim tensor"):
        reg.load_state_dict({**good, "lambda_t": torch.ones(2)})
    assert (reg.count.item(), reg.lambda_t.item()) == (0, LAMBDA_0), "nothing changed"
    reg.load_state_dict(good)
    assert reg.count.item() == 5
    assert reg.task_grad_norm_sq.item() == pytest.approx(0.7)


def test_param_groups_frozen_params_and_max_exponent():
    w1 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    frozen = torch.randn(3, dtype=torch.float64)
    reg = cosmoreg_torch.CosmoReg(
        [{"params": [w1, frozen]}, {"params": w2, "lr": 0.1}], 0.3, 1.0, max_exponent=0.5
    )
    assert reg.params == [w1, w2]
    # Linear losses have known gradients; α·g = 100 is clamped to max_exponent = 0.5.
    c = torch.full((3,), 10 / math.sqrt(6), dtype=torch.float64)
    task_loss = (c * w1).sum() + (c * w2).sum()
    energy = (2 * w1).sum() + (frozen * w2).sum()
    reg.backward(task_loss, energy)
    lam = oracle.adaptive_lambda(100.0, 0.3, 1.0, max_exponent=0.5)
    assert lam == pytest.approx(0.3 * math.exp(-0.5))
    np.testing.assert_allclose(w1.grad.numpy(), c.numpy() + lam * 2, rtol=1e-14)
    np.testing.assert_allclose(w2.grad.numpy(), c.numpy() + lam * frozen.numpy(), rtol=1e-14)
    assert reg.task_grad_norm_sq.item() == pytest.approx(100.0, rel=1e-14)
    assert frozen.grad is None


def test_energy_without_grad_and_unused_params():
    w = torch.randn(4, dtype=torch.float64, requires_grad=True)
    unused = torch.randn(2, dtype=torch.float64, requires_grad=True)
    for refresh_every in (1, 2):
        reg = cosmoreg_torch.CosmoReg([w, unused], refresh_every=refresh_every)
        for _ in range(2):
            w.grad = None
            reg.backward(torch.square(w).sum(), torch.tensor(3.0, dtype=torch.float64))
            np.testing.assert_allclose(w.grad.numpy(), 2 * w.detach().numpy(), rtol=1e-15)
            assert unused.grad is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lambda_0": -1.0}, ValueError, "lambda_0=-1.0"),
        ({"alpha": -0.5}, ValueError, "alpha=-0.5"),
        ({"alpha": float("nan")}, ValueError, "alpha=nan"),
        ({"max_exponent": float("inf")}, ValueError, "max_exponent=inf"),
        ({"max_exponent": float("nan")}, ValueError, "max_exponent=nan"),
        ({"max_exponent": "70"}, ValueError, "max_exponent='70'"),
        ({"refresh_every": 0}, ValueError, "refresh_every=0"),
        ({"refresh_every": 1.5}, ValueError, "refresh_every=1.5"),
        ({"refresh_every": True}, ValueError, "refresh_every=True"),
    ],
)
def test_bad_hyperparameters(kwargs, error, message):
    with pytest.raises(error, match=f"must .*{message}"):
        cosmoreg_torch.CosmoReg(make_model().parameters(), **kwargs)


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ([], ValueError, "at least one tensor that requires grad, got 0"),
        ([torch.zeros(2)], ValueError, "at least one tensor that requires grad, got 1"),
        (torch.zeros(2, requires_grad=True), TypeError, "got a single Tensor"),
        ([1.0], TypeError, "params must hold tensors, got float"),
        ([{"lr": 0.1}], ValueError, "'params' entry, got keys \\['lr'\\]"),
        ("duplicate", ValueError, "the same tensor twice"),
        ("non-leaf", ValueError, "leaf tensors"),
    ],
)
def test_bad_params(params, error, message):
    w = torch.zeros(2, requires_grad=True)
    if isinstance(params, str):
        params = {"duplicate": [w, w], "non-leaf": [w * 2]}[params]
    with pytest.raises(error, match=message):
        cosmoreg_torch.CosmoReg(params)


def test_bad_backward_arguments_change_nothing():
    model = make_model()
    reg = cosmoreg_torch.CosmoReg(model.parameters(), refresh_every=2)
    x, y = batch(0)
    logits = model(x)
    task = nn.functional.cross_entropy(logits, y)
    energy = torch.square(logits).sum()
    cases = [
        ((logits, energy), ValueError, r"task_loss must be a 0-dim tensor, got shape \(10, 3\)"),
        ((task, 1.0), TypeError, "energy must be a tensor, got float"),
        ((task, logits), ValueError, r"energy must be a 0-dim tensor, got shape \(10, 3\)"),
        ((task.detach(), energy), ValueError, "task_loss must require grad"),
        (
            (task, torch.tensor(1)),
            TypeError,
            "energy must be floating point, got dtype=torch.int64",
        ),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            reg.backward(*args)
    assert reg.count.item() == 0
    assert all(p.grad is None for p in model.parameters())
    reg.backward(task, energy)  # the graphs are still intact, and step 0 is still a refresh
    assert reg.count.item() == 1
    assert reg.task_grad_norm_sq.item() > 0
