"""Flax helpers: tap activations in a model, collect them for the energy, and a TrainState.

In a model, ``h = cosmoreg_jax.flax.tap(self, h)`` records an activation; in the loss,
``cosmoreg_jax.energy(cosmoreg_jax.flax.collect(model_or_intermediates))`` is its energy S.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import optax
from flax import nnx
from flax.linen.fp8_ops import OVERWRITE_WITH_GRADIENT
from flax.training import train_state

__all__ = ["TrainState", "collect", "tap"]


def tap(module: nnx.Module | nn.Module, h: jax.Array, name: str = "cosmoreg") -> jax.Array:
    """Record the activation ``h`` under ``name`` and return it unchanged.

    NNX modules sow it as ``nnx.Intermediate`` (``module.sow(nnx.Intermediate, name, h)``), Linen
    modules into the ``"intermediates"`` collection (``module.sow("intermediates", name, h)``),
    which ``apply`` records only when called with ``mutable=["intermediates"]``. Tapping several
    times (several layers, or one layer called repeatedly) records each activation.
    """
    if isinstance(module, nnx.Module):
        module.sow(nnx.Intermediate, name, h)
    elif isinstance(module, nn.Module):
        module.sow("intermediates", name, h)
    else:
        raise TypeError(
            f"tap needs a flax.nnx.Module or a flax.linen.Module, got module={type(module)!r}"
        )
    return h


def collect(source: nnx.Module | Mapping[str, Any], name: str = "cosmoreg") -> list[jax.Array]:
    """Every activation tapped under ``name``, as a list for :func:`cosmoreg_jax.energy`.

    Args:
      source: one of
        * an NNX module that has been called: its ``nnx.Intermediate`` values named ``name``
          are popped (removed from the module, so the next call starts afresh) and returned;
        * the intermediates of a call: what ``nnx.capture(model, nnx.Intermediate)(x)`` returns
          next to the output, or the mutable collections of a Linen
          ``apply(..., mutable=["intermediates"])``, with or without the outer
          ``"intermediates"`` key.
      name: the name given to :func:`tap`.

    Returns:
      The arrays in the order of ``jax.tree.leaves`` of the source (by module path, then in call
      order within a module).

    Raises:
      ValueError: if nothing was tapped under ``name``.
    """
    if isinstance(source, nnx.Module):
        source = nnx.pop(source, nnx.All(nnx.Intermediate, lambda path, _: path[-1] == name))
    elif not isinstance(source, Mapping):
        raise TypeError(
            "collect needs an NNX module or a mapping of intermediates, "
            f"got source={type(source)!r}"
        )
    leaves = [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(source)
        if _innermost_key(path) == name
    ]
    if not leaves:
        raise ValueError(
            f"collect found no activation tapped under name={name!r}: call the model, with "
            "cosmoreg_jax.flax.tap(...) in it (Linen: apply(..., mutable=['intermediates'])), first"
        )
    return leaves


def _innermost_key(path: tuple[Any, ...]) -> Any:
    # The mapping key the leaf sits under: NNX adds `.value` and a tuple index below it, Linen
    # a tuple index.
    keys = [entry.key for entry in path if isinstance(entry, jax.tree_util.DictKey)]
    return keys[-1] if keys else None


class TrainState(train_state.TrainState):
    """``flax.training.train_state.TrainState`` whose ``apply_gradients`` takes ``reg_grads``.

    Build it with ``tx=optax.chain(cosmoreg_jax.cosmoreg(), ...)``.
    """

    def apply_gradients(self, *, grads: Any, reg_grads: Any = None, **kwargs: Any) -> TrainState:
        """One step: ``tx.update(grads, opt_state, params, reg_grads=reg_grads)``, then apply.

        Args:
          grads: the task gradients, with the structure of ``params``.
          reg_grads: the energy gradients, same structure; forwarded to ``tx.update`` when given.
          **kwargs: other fields to ``.replace()``.

        Returns:
          The new state, with ``step`` incremented, as the Linen ``TrainState`` returns it.

        Raises:
          ValueError: ``reg_grads`` are given but ``tx`` has no :func:`cosmoreg_jax.cosmoreg`
            (any other transformation would drop them silently).
        """
        if reg_grads is None:
            return super().apply_gradients(grads=grads, **kwargs)
        if not optax.tree.get_all_with_path(self.opt_state, "CosmoRegState"):
            raise ValueError(
                "apply_gradients got reg_grads, but opt_state holds no CosmoRegState: build tx "
                "as optax.chain(cosmoreg_jax.cosmoreg(), ...)"
            )
        # Parameters that fp8 layers overwrite with their "gradient" bypass the optimizer.
        overwrite = OVERWRITE_WITH_GRADIENT in grads
        params = self.params["params"] if overwrite else self.params
        updates, opt_state = self.tx.update(
            grads["params"] if overwrite else grads,
            self.opt_state,
            params,
            reg_grads=reg_grads["params"] if overwrite else reg_grads,
        )
        new_params = optax.apply_updates(params, updates)
        if overwrite:
            new_params = {
                "params": new_params,
                OVERWRITE_WITH_GRADIENT: grads[OVERWRITE_WITH_GRADIENT],
            }
        return self.replace(step=self.step + 1, params=new_params, opt_state=opt_state, **kwargs)
