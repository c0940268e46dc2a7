"""``CosmoRegLoss`` under ``torch.compile(fullgraph=True)``: no graph break, eager numbers."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

import cosmoreg_torch as cr


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
        self.out = nn.Linear(8, 3)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.hidden(x)
        return self.out(h), h


def _setup() -> tuple[Small, cr.CosmoRegLoss, tuple[Tensor, Tensor, Tensor]]:
    torch.manual_seed(0)
    x, y = torch.randn(5, 6), torch.randint(0, 3, (5,))
    g = torch.tensor(0.7)  # a tensor g: used on its device, no host sync
    return Small(), cr.CosmoRegLoss(M_scale=2.0, lambda_0=0.5, alpha=0.1), (x, y, g)


def _loss(model: Small, loss_fn: cr.CosmoRegLoss, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    logits, h = model(x)
    return nn.functional.cross_entropy(logits, y) + loss_fn(h, g)


def test_forward_has_no_graph_break() -> None:
    model, loss_fn, args = _setup()
    explained = torch._dynamo.explain(lambda *a: _loss(model, loss_fn, *a))(*args)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.skipif(
    not hasattr(torch._dynamo.config, "trace_autograd_ops"),
    reason="this torch cannot trace Tensor.backward() inside torch.compile",
)
def test_step_with_backward_compiles_fullgraph_and_matches_eager() -> None:
    eager_model, eager_fn, args = _setup()
    model, loss_fn = copy.deepcopy(eager_model), copy.deepcopy(eager_fn)

    def step(x: Tensor, y: Tensor, g: Tensor) -> Tensor:
        loss = _loss(model, loss_fn, x, y, g)
        loss.backward()
        return loss.detach()

    with torch._dynamo.config.patch(trace_autograd_ops=True):
        loss = torch.compile(step, fullgraph=True)(*args)  # raises on any graph break
    eager_loss = _loss(eager_model, eager_fn, *args)
    eager_loss.backward()

    torch.testing.assert_close(loss, eager_loss.detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(loss_fn.current_lambda, eager_fn.current_lambda)
    for p, eager_p in zip(model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, eager_p.grad, rtol=1e-5, atol=1e-7)
