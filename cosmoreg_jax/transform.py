"""CosmoReg as an optax gradient transformation.

With u = ∇θ L_task (the incoming updates) and r = ∇θ S (the ``reg_grads`` extra argument):

    g_t   = ‖u‖²                                      squared global norm
    λ_t   = Λ0(t) · exp(−min(α·g_t, max_exponent))
    out   = u + λ_t · r

Chain it in front of an optimizer: ``optax.chain(cosmoreg(), optax.adam(1e-3))``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from cosmoreg_jax import _validation as check
from cosmoreg_jax.functional import adaptive_lambda
from cosmoreg_jax.grad import value_and_split_grad

__all__ = [
    "CosmoRegState",
    "cosmoreg",
    "cosmoreg_step_grads",
    "current_lambda",
    "needs_refresh",
]


class CosmoRegState(NamedTuple):
    """State of :func:`cosmoreg`.

    Attributes:
      count: updates applied so far (int32 scalar); a ``lambda_0`` schedule is evaluated at it.
      lambda_t: the λ_t of the last update (before the first one: λ at g = 0, i.e. Λ0(0)).
      task_grad_norm_sq: the g_t that ``lambda_t`` was computed from.
    """

    count: jax.Array
    lambda_t: jax.Array
    task_grad_norm_sq: jax.Array


def cosmoreg(
    lambda_0: optax.ScalarOrSchedule = 0.01,
    alpha: float = 0.05,
    *,
    max_exponent: float = 70.0,
    refresh_every: int = 1,
) -> optax.GradientTransformationExtraArgs:
    """Add the CosmoReg direction λ_t·∇S to the task gradients, with λ_t set by their norm.

    ``update(updates, state, params=None, *, reg_grads)`` takes the task gradients u as
    ``updates`` and the energy's gradients r = ∇θ S as ``reg_grads`` (same structure and shapes;
    :func:`cosmoreg_jax.value_and_split_grad` gives both from one forward pass) and returns

        u + λ_t · r,    λ_t = Λ0(count) · exp(−min(α·‖u‖², max_exponent)).

    λ_t carries no gradient; it is cast to each leaf's dtype. ``lambda_t`` and ``g = ‖u‖²`` are
    kept in :class:`CosmoRegState` in float32, or float64 if any floating leaf of the params is
    float64 (a fixed dtype, so that the state can be a ``lax.scan``/``lax.cond`` carry); g is
    computed from the updates cast to that dtype, so float16 gradients cannot overflow it.

    **Composition.** λ_t must see the task gradients alone, so put ``cosmoreg`` first in a chain.

    * Gradient accumulation: ``optax.chain(cosmoreg(), optax.MultiSteps(optax.adam(1e-3), k))``.
      Each micro-batch gets its own λ_k from its own task gradients and the optimizer steps on
      mean_k(u_k + λ_k·r_k), 1/K of the sum that ``cosmoreg_torch.CosmoReg.backward``
      accumulates over K micro-batches.
      The other order, ``MultiSteps(chain(cosmoreg(), adam), k)``, is wrong: MultiSteps hands
      the inner chain the running mean of u and only the last micro-batch's ``reg_grads``.
    * ``optax.apply_if_finite(optax.chain(cosmoreg(), opt), n)`` skips steps whose task gradients
      are not finite, and the CosmoReg state (count, λ_t) is not advanced on them. It does not
      look at ``reg_grads``.
    * ``optax.inject_hyperparams(cosmoreg)(lambda_0=..., alpha=...)`` makes Λ0 and α (and
      ``max_exponent``) state that can be changed between steps. It also turns ``refresh_every``
      into an array, so ``reg_grads`` can no longer be left out (zeros still can); pass
      ``static_args=("refresh_every",)`` to keep it a Python int.

    **Amortized λ (``refresh_every=k > 1``).** λ_t is recomputed only on steps with
    ``count % k == 0`` and kept on the others, where the caller may save the second backward
    pass: it passes ``updates = ∇θ(L_task + λ·S)`` with λ = :func:`current_lambda` of the state,
    and either ``reg_grads=None`` (passed through unchanged) or zeros (what
    :func:`cosmoreg_step_grads` gives, so that one ``jax.jit`` covers both kinds of step). Any
    ``reg_grads`` given on those steps are added as ``u + λ_stale·r``; on a refresh step they
    are needed (without them λ_t is kept, as there is nothing to recompute it from).

    Args:
      lambda_0: Λ0, the weight once the task gradients vanish (>= 0), or a schedule of the step
        count (e.g. ``optax.linear_schedule``).
      alpha: α >= 0, how fast λ_t falls with the squared task-gradient norm.
      max_exponent: the clamp on α·g (finite); λ_t never falls below Λ0·exp(−max_exponent).
      refresh_every: k >= 1, recompute λ_t every k steps; 1 (the default) is exact.

    Returns:
      A :class:`optax.GradientTransformationExtraArgs` with state :class:`CosmoRegState`.
    """
    check.hyperparameters(1.0, 0.0 if callable(lambda_0) else lambda_0, alpha, 1.0)
    if isinstance(max_exponent, numbers.Real) and not math.isfinite(max_exponent):
        raise ValueError(f"max_exponent must be finite, got max_exponent={max_exponent!r}")
    _check_refresh_every(refresh_every)
    static_k = isinstance(refresh_every, numbers.Integral)
    exact = static_k and refresh_every == 1
    may_skip_reg_grads = static_k and refresh_every > 1

    def lambda_at(count: jax.Array, g: jax.Array) -> jax.Array:
        lam_0 = lambda_0(count) if callable(lambda_0) else lambda_0
        lam = adaptive_lambda(g, lam_0, alpha, max_exponent=max_exponent, dtype=g.dtype)
        return lam.astype(g.dtype)

    def init_fn(params: optax.Params) -> CosmoRegState:
        count = jnp.zeros([], jnp.int32)
        g = jnp.zeros([], _state_dtype(params))
        return CosmoRegState(count=count, lambda_t=lambda_at(count, g), task_grad_norm_sq=g)

    def update_fn(
        updates: optax.Updates,
        state: CosmoRegState,
        params: optax.Params | None = None,
        *,
        reg_grads: optax.Updates | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, CosmoRegState]:
        del params, extra_args
        count_inc = optax.safe_increment(state.count)
        if reg_grads is None:
            if not may_skip_reg_grads:
                raise ValueError(
                    "cosmoreg.update needs reg_grads=... (the gradients of the energy), with the "
                    "structure of updates; cosmoreg_jax.value_and_split_grad computes both"
                )
            return updates, state._replace(count=count_inc)
        _check_reg_grads(updates, reg_grads)

        g = optax.tree.norm(optax.tree.cast(updates, state.task_grad_norm_sq.dtype), squared=True)
        lam = lambda_at(state.count, g)
        if not exact:
            refresh = state.count % refresh_every == 0
            lam = jnp.where(refresh, lam, state.lambda_t)
            g = jnp.where(refresh, g, state.task_grad_norm_sq)
        updates = jax.tree.map(
            lambda u, r: (u + lam.astype(u.dtype) * r).astype(u.dtype), updates, reg_grads
        )
        return updates, CosmoRegState(count=count_inc, lambda_t=lam, task_grad_norm_sq=g)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def current_lambda(opt_state: optax.OptState) -> jax.Array:
    """The λ_t held by the :class:`CosmoRegState` inside ``opt_state`` (any nesting).

    Also takes the ``opt_state`` of an ``nnx.Optimizer``; the result is a plain array.
    """
    lam = optax.tree.get(opt_state, "lambda_t")
    if lam is None:
        raise ValueError("opt_state holds no CosmoRegState: build the optimizer with cosmoreg()")
    return jnp.asarray(lam)


def needs_refresh(opt_state: optax.OptState, refresh_every: int) -> jax.Array:
    """Whether the next update recomputes λ_t: ``count % refresh_every == 0`` (a bool array).

    ``refresh_every`` must be the one given to :func:`cosmoreg`.
    """
    _check_refresh_every(refresh_every)
    state = optax.tree.get(opt_state, CosmoRegState.__name__)
    if state is None:
        raise ValueError("opt_state holds no CosmoRegState: build the optimizer with cosmoreg()")
    return state.count % refresh_every == 0


def cosmoreg_step_grads(
    fun: Callable[..., Any],
    opt_state: optax.OptState,
    *args: Any,
    refresh_every: int,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    refresh: bool | None = None,
) -> tuple[tuple[Any, ...], tuple[Any, Any]]:
    """The values and gradients for the next update of ``cosmoreg(refresh_every=k)``.

    ``fun(*args)`` returns ``(task_loss, energy)`` (or ``((task_loss, energy), aux)``), as for
    :func:`cosmoreg_jax.value_and_split_grad`, whose output format this shares:
    ``((task_loss, energy[, aux]), (updates, reg_grads))``, to be passed on as
    ``tx.update(updates, opt_state, params, reg_grads=reg_grads)``. It gives

    * on refresh steps: ``(∇L_task, ∇S)``, one forward and two backward passes, from which the
      transformation recomputes λ_t;
    * on the other k−1 steps: ``(∇(L_task + λ·S), 0)`` with λ = :func:`current_lambda`, one
      forward and one backward pass.

    The trade-off: λ_t is up to k−1 steps stale, for one backward pass instead of two on those
    steps. ``refresh_every`` must be the one given to :func:`cosmoreg`.

    **Choosing the kind of step.** With ``refresh=None`` (the default) a ``lax.cond`` on
    :func:`needs_refresh` picks it from the state, so one ``jax.jit`` (one compilation) covers
    both kinds of step and the loop needs no step counter. A Python bool picks it statically,
    with no ``lax.cond``: ``True`` gives the refresh step, ``False`` the fused one. Then jit the
    step with ``refresh`` static (two compilations) and choose on the host from a Python step
    counter, as ``cosmoreg_torch.CosmoReg`` does::

        step = jax.jit(train_step, static_argnames="refresh")  # calls cosmoreg_step_grads
        for t in range(num_steps):
            params, opt_state = step(params, opt_state, batch, refresh=t % k == 0)

    The counter must agree with :func:`needs_refresh` (``count % k == 0``; start it at the
    state's ``count`` when resuming): the update decides from ``count`` whether to recompute
    λ_t, and on a refresh it recomputes it from whatever ``updates`` it is given.

    The static form is the faster one where the backend runs a ``lax.cond`` branch slower than
    the same code in a jitted function of its own, as XLA:CPU does with convolutions. Measured
    with ``benchmarks/step_overhead.py`` (jax 0.10.2, XLA:CPU, 2 cores; two runs), per training
    step of a 4-layer CNN (3×3 convolutions, 32×32×3 input, batch 32): the fused step took
    2.2–3.7 s inside the ``lax.cond`` against 0.15–0.16 s static (15–24×), the refresh step
    4.6–5.3 s against 0.17–0.40 s, so the ``lax.cond`` amortized step cost 16–25 plain steps
    where the static one cost 1.01–1.17 and an exact step 1.4–1.6; on a dense MLP
    (784-1024-1024-1024-10, batch 256) the ``lax.cond`` fused step was 5–8 % slower.
    So on CPU prefer ``refresh=True``/``False``; ``refresh=None`` suits a step inside
    ``lax.scan``/``fori_loop``, where there is no host counter.

    Args:
      fun: ``(*args) -> (task_loss, energy)``, or ``((task_loss, energy), aux)`` with
        ``has_aux=True``.
      opt_state: the optimizer state holding the :class:`CosmoRegState`.
      *args: the arguments of ``fun``.
      refresh_every: k, as given to :func:`cosmoreg`.
      argnums: which of ``args`` to differentiate, as in ``jax.grad``.
      has_aux: whether ``fun`` returns auxiliary data.
      refresh: None for a ``lax.cond`` on :func:`needs_refresh`; a Python bool to pick the
        refresh (``True``) or the fused (``False``) step statically.
    """
    if refresh is not None and not isinstance(refresh, bool):
        raise TypeError(
            "refresh must be None or a Python bool (jit with refresh static), got "
            f"refresh={refresh!r}"
        )
    _check_refresh_every(refresh_every)
    split = value_and_split_grad(fun, argnums, has_aux)
    lam = current_lambda(opt_state)

    def fused_loss(*fun_args: Any) -> tuple[jax.Array, tuple[Any, ...]]:
        out = fun(*fun_args)
        (task_loss, energy), aux = out if has_aux else (out, None)
        total = task_loss + jax.lax.stop_gradient(lam).astype(jnp.result_type(energy)) * energy
        return total, (task_loss, energy, *([aux] if has_aux else []))

    def fused() -> tuple[tuple[Any, ...], tuple[Any, Any]]:
        (_, values), grads = jax.value_and_grad(fused_loss, argnums, has_aux=True)(*args)
        return values, (grads, optax.tree.zeros_like(grads))

    if refresh is None:
        return jax.lax.cond(needs_refresh(opt_state, refresh_every), lambda: split(*args), fused)
    return split(*args) if refresh else fused()


def _state_dtype(params: optax.Params) -> jnp.dtype:
    dtypes = {jnp.result_type(x) for x in jax.tree.leaves(params)}
    return jnp.dtype(jnp.float64 if jnp.dtype(jnp.float64) in dtypes else jnp.float32)


def _check_refresh_every(refresh_every: object) -> None:
    # An integer array comes from optax.inject_hyperparams; its value may be traced.
    is_int = isinstance(refresh_every, numbers.Integral) and not isinstance(refresh_every, bool)
    is_int_array = isinstance(refresh_every, jax.Array) and jnp.issubdtype(
        refresh_every.dtype, jnp.integer
    )
    if not ((is_int and refresh_every >= 1) or is_int_array):
        raise ValueError(f"refresh_every must be an int >= 1, got refresh_every={refresh_every!r}")


def _check_reg_grads(updates: optax.Updates, reg_grads: optax.Updates) -> None:
    def specs(tree: Any) -> Any:
        return jax.tree.map(lambda x: f"{jnp.result_type(x)}{list(jnp.shape(x))}", tree)

    same_structure = jax.tree.structure(updates) == jax.tree.structure(reg_grads)
    same_shapes = same_structure and all(
        jnp.shape(u) == jnp.shape(r)
        for u, r in zip(jax.tree.leaves(updates), jax.tree.leaves(reg_grads), strict=True)
    )
    if not same_shapes:
        raise ValueError(
            "reg_grads must have the structure and shapes of updates (the task gradients), got "
            f"updates={specs(updates)} and reg_grads={specs(reg_grads)}"
        )
