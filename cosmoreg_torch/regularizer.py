"""``CosmoReg``: the training-loop helper (the twin of the optax transformation
``cosmoreg_jax.cosmoreg``).

It replaces ``loss.backward()``: each parameter's ``.grad`` receives

    ∇θ L_task + λ_t·∇θ S,      λ_t = Λ0·exp(−min(α·g, max_exponent)),  g = ‖∇θ L_task‖²,

with g the squared global norm of the task gradient over all the helper's parameters, and λ_t,
g and the step count kept as 0-dim tensors on the parameters' device, so no step reads a value
back to the host. Under data parallelism (an initialized ``torch.distributed`` process group) the
gradients are averaged over the ranks first, so g and λ_t are those of the global batch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from cosmoreg_torch import _validation as check
from cosmoreg_torch import functional as F

__all__ = ["CosmoReg"]

Params = Iterable[Tensor] | Iterable[Mapping[str, Any]]

Grads = list[Tensor | None]

_STATE_KEYS = ("count", "lambda_t", "task_grad_norm_sq", "skipped_steps")
# Keys that older checkpoints may lack, with the value they stand for.
_OPTIONAL_KEYS = {"skipped_steps": 0}


class CosmoReg:
    """Fill ``p.grad`` with ∇θ L_task + λ_t·∇θ S, with the adaptive weight λ_t of CosmoReg.

    Not an ``nn.Module``: like an optimizer or LR scheduler it holds a list of parameters and a
    little state. Use it in place of ``loss.backward()``::

        reg = CosmoReg(model.parameters())
        with ActivationTap(model, ["hidden"]) as tap:
            for x, y in loader:
                optimizer.zero_grad()
                task_loss = loss_fn(model(x), y)
                reg.backward(task_loss, tap.energy(M_scale=2.0))
                optimizer.step()

    Each call of :meth:`backward` (a *step*) runs one of two kinds of backward pass:

    * **refresh** (when ``count % refresh_every == 0``): ``torch.autograd.grad`` of the task
      loss gives ∇θ L_task and g = Σ_p ‖∇_p L_task‖²; λ_t is recomputed from g; a second
      backward, of the energy alone, runs only through the layers upstream of the tapped
      activations (the energy's graph covers nothing else) and gives ∇θ S. The grads receive
      ∇θ L_task + λ_t·∇θ S.
    * **reuse** (the other steps): one ordinary backward of ``task_loss + λ_last·energy`` with
      the stored λ_t, detached. λ_t and g keep their values.

    ``refresh_every=1`` (the default) refreshes every step and is exact. ``refresh_every=k``
    trades exactness for speed: λ_t is up to k−1 steps stale, and those steps cost one backward
    pass (as without CosmoReg) instead of a task backward plus an energy backward.

    **Data parallel.** When a ``torch.distributed`` process group is initialized (world size
    W > 1), every rank is taken to hold one shard of the global batch and the same parameters.
    The step's gradients (∇L_task and ∇S on a refresh, their λ-weighted sum on a reuse) are
    averaged over the ranks with **one** all-reduce (one per gradient dtype) before g is taken,
    so g, λ_t and ``p.grad`` are the same on every rank: those of the loss
    (1/W)·Σ_r (L_r + λ_t·S_r). With equal shards, a mean task loss and
    ``reduction="mean"`` energy this is exactly the single-process step on the concatenated
    batch; with ``reduction="sum"`` it is the single-process step with Λ0/W (the sum energy of
    the global batch is W times the rank average). The gradients come from
    ``torch.autograd.grad``, which does not fire ``DistributedDataParallel``'s hooks: a DDP
    wrapper is harmless (it still broadcasts the initial parameters and buffers) but all-reduces
    nothing, so a step costs one all-reduce in all, and ``no_sync()`` has no effect on it.
    FSDP-sharded parameters (DTensor or FlatParameter) are not supported.

    **torch.compile.** A refresh step's first backward retains the graph for the second, which
    AOTAutograd's donated buffers forbid: if a ``torch.compile``'d model raises "compiled with
    non-empty donated buffers ... retain_graph=False", set
    ``torch._functorch.config.donated_buffer = False`` before compiling it.

    **Gradient accumulation.** Like ``backward()``, :meth:`backward` adds into existing
    ``p.grad``: over micro-batches k = 1..K between ``zero_grad()`` and ``step()`` the grads
    become Σ_k (∇L_task,k + λ_k·∇S_k), each micro-batch weighted by its own λ_k (from its own
    g_k), and ``count`` advances once per micro-batch. This is the JAX
    ``optax.chain(cosmoreg(...), optax.MultiSteps(opt, K))``, except that MultiSteps steps on
    the mean over k, 1/K of this sum (a learning-rate factor for SGD; Adam is invariant to it up
    to its ε). Scaling the losses by 1/K would not give that mean: it would change each g_k.

    **Non-finite steps.** With ``skip_nonfinite=True``, a step whose gradient (task plus
    regularizer, after the all-reduce) has a non-finite squared norm is skipped: ``p.grad``,
    λ_t, g and ``count`` keep their values, ``skipped_steps`` goes up by one and
    ``last_step_finite`` is False. Deciding this reads one boolean back to the host per step.
    Call :meth:`step` instead of ``optimizer.step()``: it does not step the optimizer after a
    skipped backward, so parameters and optimizer state (Adam's moments and step count) are
    untouched. (After ``optimizer.zero_grad()``, which sets the grads to None, a plain
    ``optimizer.step()`` skips every parameter too, for the ``torch.optim`` optimizers.)

    Parameters that neither loss uses keep ``p.grad`` as it was (``None`` stays ``None``) and add
    nothing to g. The gradients must be those of the true losses: with a ``GradScaler``, g would
    include the loss scale.

    Args:
        params: an iterable of real floating-point tensors, or of param-group dicts with a
            ``"params"`` entry as in ``torch.optim``; those with ``requires_grad`` are kept, and
            at least one is needed.
        lambda_0: Λ0 ≥ 0, the weight once the task gradients vanish.
        alpha: α ≥ 0, how fast large task gradients switch the regularizer off.
        max_exponent: the clamp on α·g (finite), which bounds λ_t below by Λ0·e^(−max_exponent).
        refresh_every: recompute λ_t every this many steps (an int ≥ 1).
        skip_nonfinite: skip steps whose gradient is not finite (one host sync per step).

    Attributes:
        lambda_t: λ_t of the last refresh (initially Λ0), a 0-dim tensor.
        task_grad_norm_sq: g of the last refresh (initially 0), a 0-dim tensor.
        count: the number of :meth:`backward` calls not skipped, a 0-dim int64 tensor.
        skipped_steps: the number of skipped calls, a 0-dim int64 tensor.
        last_step_finite: False after a skipped :meth:`backward`, else True (a Python bool).

        ``lambda_t`` and ``task_grad_norm_sq`` have the parameters' (promoted) floating dtype,
        float32 for half-precision parameters; the tensors live on the first parameter's device.
    """

    lambda_t: Tensor
    task_grad_norm_sq: Tensor
    count: Tensor
    skipped_steps: Tensor

    def __init__(
        self,
        params: Params,
        lambda_0: float = 0.01,
        alpha: float = 0.05,
        *,
        max_exponent: float = 70.0,
        refresh_every: int = 1,
        skip_nonfinite: bool = False,
    ) -> None:
        check.hyperparameters(1.0, lambda_0, alpha, 1.0)
        # The same checks and messages as cosmoreg_jax.cosmoreg.
        if not (_is_real(max_exponent) and math.isfinite(max_exponent)):
            raise ValueError(f"max_exponent must be finite, got max_exponent={max_exponent!r}")
        if not (_is_integral(refresh_every) and refresh_every >= 1):
            raise ValueError(
                f"refresh_every must be an int >= 1, got refresh_every={refresh_every!r}"
            )
        if not isinstance(skip_nonfinite, bool):
            raise TypeError(f"skip_nonfinite must be a bool, got skip_nonfinite={skip_nonfinite!r}")
        self.params: list[Tensor] = _trainable_params(params)
        self.lambda_0 = float(lambda_0)
        self.alpha = float(alpha)
        self.max_exponent = float(max_exponent)
        self.refresh_every = int(refresh_every)
        self.skip_nonfinite = skip_nonfinite

        dtype = F.compute_dtype(_promoted_float_dtype(self.params))
        device = self.params[0].device
        self.lambda_t = torch.tensor(self.lambda_0, dtype=dtype, device=device)
        self.task_grad_norm_sq = torch.zeros((), dtype=dtype, device=device)
        self.count = torch.zeros((), dtype=torch.int64, device=device)
        self.skipped_steps = torch.zeros((), dtype=torch.int64, device=device)
        self.last_step_finite = True
        # A host-side mirror of ``count``: it picks the kind of step without reading the tensor.
        self._step = 0

    def backward(self, task_loss: Tensor, energy: Tensor) -> Tensor:
        """Accumulate ∇θ L_task + λ_t·∇θ S into the parameters' ``.grad``.

        λ_t is refreshed from this step's g = ‖∇θ L_task‖² when ``count % refresh_every == 0``,
        else the stored λ_t is reused (see the class docstring); ``count`` then increases by one.
        Both graphs are freed. No tensor value is read back to the host (except the one
        finiteness flag with ``skip_nonfinite=True``).

        Args:
            task_loss: the task loss, a 0-dim tensor that requires grad.
            energy: the CosmoReg energy S of this forward pass (e.g. ``ActivationTap.energy()``),
                a 0-dim tensor; it may not require grad (then ∇θ S = 0).

        Returns:
            ``task_loss`` detached, for logging.
        """
        _check_scalar(task_loss, "task_loss")
        _check_scalar(energy, "energy")
        if not task_loss.requires_grad:
            raise ValueError("task_loss must require grad, got a tensor with requires_grad=False")

        refresh = self._step % self.refresh_every == 0
        if not refresh and not self.skip_nonfinite and _world_size() == 1:
            # A plain reuse step: one backward that autograd accumulates into .grad itself.
            torch.autograd.backward(task_loss + self.lambda_t * energy, inputs=self.params)
            self.count.add_(1)
            self._step += 1
            return task_loss.detach()
        if refresh:
            task_grads = self._grads(task_loss, retain_graph=True)
            reg_grads = self._grads(energy)
        else:
            # The λ-weighted sum takes the place of the task gradients; there is no ∇S term.
            task_grads = self._grads(task_loss + self.lambda_t * energy)
            reg_grads = [None] * len(self.params)
        if _world_size() > 1:
            task_grads, reg_grads = _all_reduce_mean([task_grads, reg_grads], self.params)

        if refresh:
            g = self._sq_norm(task_grads)
            lam = F.adaptive_lambda(
                g, self.lambda_0, self.alpha, max_exponent=self.max_exponent, dtype=g.dtype
            )
        else:
            g, lam = self.task_grad_norm_sq, self.lambda_t
        if self.skip_nonfinite:
            # The squared norm of everything this step adds: finite iff every term is (NaN and
            # inf propagate through the sum). On a refresh its first term is g.
            step_sq_norm = g if refresh else self._sq_norm(task_grads)
            step_sq_norm = step_sq_norm + self._sq_norm(reg_grads)
            self.last_step_finite = bool(torch.isfinite(step_sq_norm))
            if not self.last_step_finite:
                self.skipped_steps.add_(1)
                return task_loss.detach()

        # λ multiplies ∇S after the backward (as in the JAX twin), not the energy before it:
        # at the clamp λ ≈ 4e-33, and carried through a float32 backward it could underflow.
        for param, task_grad, reg_grad in zip(self.params, task_grads, reg_grads, strict=True):
            _accumulate(param, task_grad, reg_grad, lam)
        self.task_grad_norm_sq.copy_(g)
        self.lambda_t.copy_(lam)
        self.count.add_(1)
        self._step += 1
        return task_loss.detach()

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """``optimizer.step()``, unless the last :meth:`backward` was skipped as non-finite.

        Returns:
            Whether the optimizer stepped (no host sync: the flag is already on the host).
        """
        if self.last_step_finite:
            optimizer.step()
        return self.last_step_finite

    def _grads(self, loss: Tensor, retain_graph: bool = False) -> Grads:
        """∂loss/∂p for each parameter (None where ``loss`` does not reach it)."""
        if not loss.requires_grad:
            return [None] * len(self.params)
        grads = torch.autograd.grad(loss, self.params, retain_graph=retain_graph, allow_unused=True)
        return list(grads)

    def _sq_norm(self, grads: Grads) -> Tensor:
        """Σ_p ‖grad_p‖² in the state's dtype, on its device (half-precision grads upcast)."""
        dtype, device = self.task_grad_norm_sq.dtype, self.task_grad_norm_sq.device
        used = [grad.to(dtype) for grad in grads if grad is not None]
        if not used:
            return torch.zeros((), dtype=dtype, device=device)
        return torch.square(torch.nn.utils.get_total_norm(used).to(device))

    def state_dict(self) -> dict[str, Tensor]:
        """Copies of ``count``, ``lambda_t``, ``task_grad_norm_sq`` (as in ``CosmoRegState``)
        and ``skipped_steps``."""
        return {key: getattr(self, key).clone() for key in _STATE_KEYS}

    def load_state_dict(self, state_dict: Mapping[str, Tensor]) -> None:
        """Restore the state from :meth:`state_dict` (copied in place, cast to this helper's
        dtype and device). Reads ``count`` back to the host once, for the step mirror.
        ``skipped_steps`` may be missing (a checkpoint from before it existed): it becomes 0.

        Raises:
            KeyError: a key is missing or unexpected (nothing is changed).
            ValueError: a value is not a 0-dim tensor or number (nothing is changed).
        """
        state_dict = {**_OPTIONAL_KEYS, **state_dict}
        missing = [key for key in _STATE_KEYS if key not in state_dict]
        unexpected = sorted(str(key) for key in state_dict if key not in _STATE_KEYS)
        if missing or unexpected:
            raise KeyError(
                f"CosmoReg state_dict must have exactly the keys {list(_STATE_KEYS)}; "
                f"missing {missing}, unexpected {unexpected}"
            )
        values = {key: torch.as_tensor(state_dict[key]) for key in _STATE_KEYS}
        for key, value in values.items():
            if value.dim() != 0:
                raise ValueError(
                    f"state_dict[{key!r}] must be a 0-dim tensor, got shape {tuple(value.shape)}"
                )
        for key, value in values.items():
            getattr(self, key).copy_(value)
        self._step = int(self.count)
        self.last_step_finite = True

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(lambda_0={self.lambda_0}, alpha={self.alpha}, "
            f"max_exponent={self.max_exponent}, refresh_every={self.refresh_every}, "
            f"skip_nonfinite={self.skip_nonfinite}, num_params={len(self.params)})"
        )


def _world_size() -> int:
    """The data-parallel world size: that of the default process group, or 1 without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _all_reduce_mean(grad_lists: list[Grads], params: list[Tensor]) -> list[Grads]:
    """The mean over the ranks of each gradient in ``grad_lists`` (each one entry per param).

    One all-reduce (SUM, then ÷W) per parameter dtype, of one flat buffer holding every gradient
    of that dtype (zeros where this rank has None) and a 0/1 "present" flag per gradient. A
    gradient that is None on every rank stays None, as without data parallelism. The flags are
    read back to the host only for the gradients missing on this rank (usually none).
    """
    world = dist.get_world_size()
    slots = [(i, j) for i, grads in enumerate(grad_lists) for j in range(len(grads))]
    out: list[Grads] = [list(grads) for grads in grad_lists]
    for dtype in dict.fromkeys(p.dtype for p in params):
        mine = [(i, j) for i, j in slots if params[j].dtype == dtype]
        local = [grad_lists[i][j] for i, j in mine]
        values = [
            (torch.zeros_like(params[j]) if grad is None else grad).reshape(-1)
            for (_, j), grad in zip(mine, local, strict=True)
        ]
        device = params[mine[0][1]].device
        flags = torch.tensor([grad is not None for grad in local], dtype=dtype, device=device)
        flat = torch.cat([value.to(device) for value in values] + [flags])
        dist.all_reduce(flat)
        *sums, present = flat.split([value.numel() for value in values] + [len(local)])
        missing = [k for k, grad in enumerate(local) if grad is None]
        present_elsewhere = (
            dict(zip(missing, (present[missing] > 0).tolist(), strict=True)) if missing else {}
        )
        for k, ((i, j), total) in enumerate(zip(mine, sums, strict=True)):
            if present_elsewhere.get(k, True):
                out[i][j] = (total / world).view_as(params[j]).to(params[j].device)
            else:
                out[i][j] = None
    return out


def _trainable_params(params: Params) -> list[Tensor]:
    """The flat list of tensors in ``params`` (tensors or param groups) that require grad."""
    if isinstance(params, Tensor):
        raise TypeError(
            "params must be an iterable of tensors or of param-group dicts, got a single "
            f"{type(params).__name__}; wrap it in a list"
        )
    flat: list[Tensor] = []
    for item in params:
        if isinstance(item, Mapping):
            if "params" not in item:
                raise ValueError(f"a param group must have a 'params' entry, got keys {list(item)}")
            group = item["params"]
            flat.extend([group] if isinstance(group, Tensor) else group)
        else:
            flat.append(item)
    for p in flat:
        if not isinstance(p, Tensor):
            raise TypeError(f"params must hold tensors, got {type(p).__name__}")
        if not p.is_leaf:
            raise ValueError(
                "params must be leaf tensors, got a non-leaf tensor (one with a grad_fn)"
            )
    if len({id(p) for p in flat}) != len(flat):
        raise ValueError("params must not contain the same tensor twice")
    trainable = [p for p in flat if p.requires_grad]
    if not trainable:
        raise ValueError(
            f"params must hold at least one tensor that requires grad, got {len(flat)} tensor(s) "
            "and none requires grad"
        )
    for p in trainable:
        _check_param(p)
    return trainable


def _check_param(p: Tensor) -> None:
    """A trainable parameter must be real floating point, hold data, and not be FSDP-sharded."""
    if not p.is_floating_point():
        raise TypeError(f"params must be real floating-point tensors, got dtype={p.dtype}")
    if p.is_meta:
        raise ValueError("params must hold data, got a tensor on device='meta'")
    if getattr(p, "_fsdp_flattened", False) or _is_dtensor(p):
        raise NotImplementedError(
            "CosmoReg does not support FSDP-sharded parameters (DTensor from fully_shard or "
            f"tensor parallelism, FlatParameter from FullyShardedDataParallel), got {type(p)}; "
            "use DistributedDataParallel or plain data parallelism, which CosmoReg handles"
        )


def _is_dtensor(p: Tensor) -> bool:
    if not dist.is_available():
        return False
    from torch.distributed.tensor import DTensor

    return isinstance(p, DTensor)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integral(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _promoted_float_dtype(params: list[Tensor]) -> torch.dtype:
    dtypes = [p.dtype for p in params if p.is_floating_point()]
    if not dtypes:
        return torch.get_default_dtype()
    dtype = dtypes[0]
    for other in dtypes[1:]:
        dtype = torch.promote_types(dtype, other)
    return dtype


def _check_scalar(value: object, name: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(value).__name__}")
    if value.dim() != 0:
        raise ValueError(f"{name} must be a 0-dim tensor, got shape {tuple(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype={value.dtype}")
    if value.is_meta:
        raise ValueError(f"{name} must hold data, got a tensor on device='meta'")


def _accumulate(
    param: Tensor, task_grad: Tensor | None, reg_grad: Tensor | None, lam: Tensor
) -> None:
    """``param.grad += task_grad + lam·reg_grad``, a missing term counting as zero.

    As in ``backward()``, a parameter that neither term reaches keeps its ``.grad`` (even None).
    """
    if task_grad is None and reg_grad is None:
        return
    if param.grad is not None:
        if task_grad is not None:
            param.grad.add_(task_grad)
        if reg_grad is not None:
            param.grad.addcmul_(reg_grad, lam.to(reg_grad.device))
        return
    # A fresh buffer, written in one kernel where both terms exist: autograd may hand back
    # expanded views, or one tensor shared by several parameters, which must not become
    # (in-place updated) grads.
    if task_grad is None:
        param.grad = reg_grad * lam.to(reg_grad.device)
    elif reg_grad is None:
        param.grad = task_grad.clone(memory_format=torch.preserve_format)
    else:
        param.grad = torch.addcmul(task_grad, reg_grad, lam.to(reg_grad.device))
