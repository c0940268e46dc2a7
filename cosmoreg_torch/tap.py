"""``ActivationTap``: capture the outputs of named submodules for the CosmoReg energy."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from cosmoreg_torch import functional as F

__all__ = ["ActivationTap"]


class ActivationTap:
    """Forward hooks that keep the outputs of the submodules ``names`` of ``model``.

    After a forward pass, ``tap.activations[name]`` is the output of ``model.get_submodule(name)``
    in that pass, still attached to the autograd graph, and :meth:`energy` is
    S = Σ_name Σ_i φ(‖h_i‖²) over them. A module that returns a tuple or list (``nn.LSTM``,
    ``nn.MultiheadAttention``) contributes its first element; a module that runs several times in
    one forward pass contributes its last output. The hooks are active from construction until
    :meth:`remove`, or until the ``with`` block ends::

        with ActivationTap(model, ["encoder.layer2"]) as tap:
            task_loss = loss_fn(model(x), y)
            energy = tap.energy(M_scale=2.0)

    Captured tensors are kept (with their graphs) until they are overwritten by the next forward
    pass or dropped by :meth:`clear`.

    Args:
        model: the module whose submodules are tapped.
        names: submodule names as in ``model.named_modules()``, e.g. ``["blocks.3.mlp"]``.

    Raises:
        ValueError: ``names`` is empty, repeats a name, or names something that is not a
            submodule of ``model`` (the message lists the valid names); no hook is registered.
        TypeError: ``names`` is a single string rather than a sequence of names.
    """

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        if isinstance(names, str):
            raise TypeError(
                f"names must be a sequence of submodule names, got the string names={names!r}; "
                f"use names=[{names!r}]"
            )
        names = tuple(names)
        if not names:
            raise ValueError("names must name at least one submodule, got names=()")
        if len(set(names)) != len(names):
            raise ValueError(f"names must not repeat a name, got names={list(names)}")
        modules = {name: _submodule(model, name) for name in names}

        self.names: tuple[str, ...] = names
        self.activations: dict[str, Tensor] = {}
        self._handles: list[RemovableHandle] = [
            module.register_forward_hook(functools.partial(self._capture, name))
            for name, module in modules.items()
        ]

    def _capture(self, name: str, module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, (tuple, list)) and output:
            output = output[0]
        if not isinstance(output, Tensor):
            raise TypeError(
                f"ActivationTap: submodule {name!r} ({type(module).__name__}) returned "
                f"{type(output).__name__}, expected a tensor or a tuple starting with one"
            )
        self.activations[name] = output

    def energy(
        self,
        M_scale: float = 1.0,
        eps: float = 1e-8,
        dim: int | tuple[int, ...] = -1,
        reduction: str = "sum",
    ) -> Tensor:
        """S = Σ_name Σ_i φ(‖h_i‖²) of the captured activations (``functional.energy``).

        φ(s) = −(s+ε)·ln(s+ε) + s²/M² with M = ``M_scale``; ‖h_i‖² sums over ``dim`` and i runs
        over the other axes; ``reduction="mean"`` averages over i instead, per tapped module.

        Raises:
            RuntimeError: a tapped module has produced no output since construction or
                :meth:`clear`.
        """
        missing = [name for name in self.names if name not in self.activations]
        if missing:
            raise RuntimeError(
                f"ActivationTap: no output captured for {missing} since construction or the "
                "last clear(); run a forward pass through the model first"
            )
        return F.energy(
            [self.activations[name] for name in self.names], M_scale, eps, dim, reduction
        )

    def clear(self) -> None:
        """Drop the captured activations (and the graphs they keep alive)."""
        self.activations.clear()

    def remove(self) -> None:
        """Remove the hooks (idempotent); captured activations are kept until :meth:`clear`."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> ActivationTap:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "active" if self._handles else "removed"
        return f"{type(self).__name__}(names={list(self.names)}, {state})"


def _submodule(model: nn.Module, name: str) -> nn.Module:
    # "" would be the model itself, which named_modules() lists under no name either.
    if name:
        try:
            return model.get_submodule(name)
        except AttributeError:
            pass
    valid = [n for n, _ in model.named_modules() if n]
    raise ValueError(
        f"names: {name!r} is not a submodule of {type(model).__name__}; valid names are {valid}"
    )
