"""The task and the regularizer gradients from one forward pass (pure JAX, no optax or flax).

CosmoReg needs ∇θ L_task on its own (its squared norm sets λ_t) and ∇θ S on its own (λ_t scales
it). Both are pullbacks of one forward pass of ``θ ↦ (L_task, S)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["value_and_split_grad"]


def value_and_split_grad(
    fun: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., tuple[tuple[Any, ...], tuple[Any, Any]]]:
    """Like ``jax.value_and_grad``, for a ``fun`` returning ``(task_loss, energy)``.

    The returned function runs ``fun`` once under ``jax.vjp`` and pulls back the cotangents
    ``(1, 0)`` and ``(0, 1)``, which gives ∇L_task and ∇S for one forward pass plus two backward
    passes (differentiating ``L_task + λ·S`` would give only their sum):

        ((task_loss, energy), (task_grads, reg_grads))            has_aux=False
        ((task_loss, energy, aux), (task_grads, reg_grads))       has_aux=True

    Args:
      fun: the function to differentiate. It returns a pair of real scalars
        ``(task_loss, energy)``, or ``((task_loss, energy), aux)`` with ``has_aux``.
      argnums: the positional argument(s) to differentiate. With a sequence of ints, each of
        ``task_grads`` and ``reg_grads`` is a tuple with one entry per argument, as in
        ``jax.value_and_grad``.
      has_aux: whether ``fun`` also returns auxiliary data (not differentiated).

    Returns:
      A function taking the arguments of ``fun`` (keyword arguments are passed through and not
      differentiated).
    """
    if not callable(fun):
        raise TypeError(f"value_and_split_grad needs a callable fun, got fun={fun!r}")
    positions = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not positions or not all(isinstance(i, int) and i >= 0 for i in positions):
        raise ValueError(
            f"argnums must be an int >= 0 or a non-empty sequence of them, got argnums={argnums!r}"
        )

    @functools.wraps(fun)
    def value_and_split_grad_fun(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], Any]:
        if max(positions) >= len(args):
            raise TypeError(
                f"differentiating with respect to argnums={argnums!r} needs at least "
                f"{max(positions) + 1} positional arguments, got {len(args)}"
            )

        def partial_fun(*diff_args: Any) -> Any:
            full_args = list(args)
            for i, arg in zip(positions, diff_args, strict=True):
                full_args[i] = arg
            out = fun(*full_args, **kwargs)
            values, aux = out if has_aux else (out, None)
            values = _as_pair(values)
            return (values, aux) if has_aux else values

        (task_loss, energy), pullback, *aux = jax.vjp(
            partial_fun, *(args[i] for i in positions), has_aux=has_aux
        )
        task_grads = pullback((jnp.ones_like(task_loss), jnp.zeros_like(energy)))
        reg_grads = pullback((jnp.zeros_like(task_loss), jnp.ones_like(energy)))
        if isinstance(argnums, int):
            task_grads, reg_grads = task_grads[0], reg_grads[0]
        return (task_loss, energy, *aux), (task_grads, reg_grads)

    return value_and_split_grad_fun


def _as_pair(values: Any) -> tuple[jax.Array, jax.Array]:
    if not (isinstance(values, tuple | list) and len(values) == 2):
        raise TypeError(
            "value_and_split_grad needs fun to return (task_loss, energy) "
            f"(or ((task_loss, energy), aux) with has_aux=True), got {type(values).__name__}"
        )
    for name, value in zip(("task_loss", "energy"), values, strict=True):
        shape, dtype = jnp.shape(value), jnp.result_type(value)
        if shape != () or not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"value_and_split_grad needs {name} to be a real scalar, "
                f"got shape {shape} and dtype {dtype}"
            )
    return values[0], values[1]
