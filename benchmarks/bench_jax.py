"""The JAX side of the step-overhead benchmark (this process never imports PyTorch).

Every step is one ``jax.jit`` (gradients and the optax update), with the parameters and the
optimizer state donated, in every mode alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from bench_common import Conv, Dense, Mode, Workload

import cosmoreg_jax as cr

M_SCALE = 2.0
LEARNING_RATE = 1e-3
REFRESH_EVERY = 10
MODES = ("plain", "exact", "amortized", "amortized-cond")
MEMORY_MODES = ("plain", "exact")

Params = list[dict[str, jax.Array]]
Batch = tuple[jax.Array, jax.Array]


def init_params(workload: Workload, key: jax.Array) -> tuple[Params, Params]:
    """He-normal weights and zero biases for the trunk and the head."""

    def init(layer: Dense | Conv, key: jax.Array) -> dict[str, jax.Array]:
        if isinstance(layer, Dense):
            shape, fan_in = (layer.d_in, layer.d_out), layer.d_in
        else:
            shape = (layer.kernel, layer.kernel, layer.c_in, layer.c_out)  # HWIO
            fan_in = layer.kernel * layer.kernel * layer.c_in
        w = jax.random.normal(key, shape) * jnp.sqrt(2.0 / fan_in)
        return {"w": w, "b": jnp.zeros(shape[-1])}

    layers = workload.trunk + workload.head
    keys = jax.random.split(key, len(layers))
    params = [init(layer, k) for layer, k in zip(layers, keys, strict=True)]
    return params[: len(workload.trunk)], params[len(workload.trunk) :]


def forward(workload: Workload, params: dict[str, Params], x: jax.Array) -> tuple[jax.Array, Any]:
    """Logits and the trunk's output (NHWC for a CNN)."""
    h = x
    for layer, p in zip(workload.trunk, params["trunk"], strict=True):
        if isinstance(layer, Dense):
            h = jax.nn.relu(h @ p["w"] + p["b"])
            continue
        h = jax.lax.conv_general_dilated(
            h, p["w"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        h = jax.nn.relu(h + p["b"])
        if layer.pool:
            h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    tapped = h
    z = h.reshape(h.shape[0], -1)
    for i, p in enumerate(params["head"]):
        z = z @ p["w"] + p["b"]
        z = z if i == len(params["head"]) - 1 else jax.nn.relu(z)
    return z, tapped


def make_batch(workload: Workload) -> Batch:
    kx, ky = jax.random.split(jax.random.key(1))
    shape = workload.input_shape
    shape = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape  # CHW -> HWC
    x = jax.random.normal(kx, (workload.batch, *shape))
    y = jax.random.randint(ky, (workload.batch,), 0, workload.num_classes)
    return x, y


def losses(workload: Workload) -> Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, ...]]:
    """``(params, x, y) -> (task_loss, energy)``, the function CosmoReg differentiates."""

    def fn(params: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits, h = forward(workload, params, x)
        task = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return task, cr.energy(h, M_scale=M_SCALE, axis=-1)

    return fn


def step_fn(workload: Workload, mode: str) -> tuple[optax.GradientTransformation, Callable]:
    """The optimizer and ``(params, opt_state, x, y, count) -> (params, opt_state, loss)``.

    ``count`` is the host's step counter; only ``"amortized"`` uses it, to pick one of its two
    jitted steps (``"amortized-cond"`` picks with a ``lax.cond`` inside one).
    """
    fun = losses(workload)
    adam = optax.adam(LEARNING_RATE)

    def apply(params, opt_state, updates, reg_grads=None):
        kwargs = {} if reg_grads is None else {"reg_grads": reg_grads}
        updates, opt_state = tx.update(updates, opt_state, params, **kwargs)
        return optax.apply_updates(params, updates), opt_state

    if mode == "plain":
        tx = adam

        def step(params, opt_state, x, y):
            task, grads = jax.value_and_grad(lambda p: fun(p, x, y)[0])(params)
            return (*apply(params, opt_state, grads), task)

    elif mode == "exact":
        tx = optax.chain(cr.cosmoreg(), adam)

        def step(params, opt_state, x, y):
            (task, _), (grads, reg_grads) = cr.value_and_split_grad(fun)(params, x, y)
            return (*apply(params, opt_state, grads, reg_grads), task)

    elif mode in ("amortized", "amortized-cond"):
        tx = optax.chain(cr.cosmoreg(refresh_every=REFRESH_EVERY), adam)

        def step(params, opt_state, x, y, refresh=None):
            (task, _), (grads, reg_grads) = cr.cosmoreg_step_grads(
                fun, opt_state, params, x, y, refresh_every=REFRESH_EVERY, refresh=refresh
            )
            return (*apply(params, opt_state, grads, reg_grads), task)

        if mode == "amortized":
            # Two compilations, the kind of step picked on the host (as CosmoReg does).
            jitted = jax.jit(step, donate_argnums=(0, 1), static_argnames="refresh")
            return tx, lambda params, opt_state, x, y, count: jitted(
                params, opt_state, x, y, refresh=count % REFRESH_EVERY == 0
            )

    else:
        raise ValueError(f"unknown JAX mode {mode!r}")
    jitted = jax.jit(step, donate_argnums=(0, 1))
    return tx, lambda params, opt_state, x, y, count: jitted(params, opt_state, x, y)


class JaxStep:
    """The state of one mode, carried from step to step (donated buffers are replaced)."""

    def __init__(self, workload: Workload, mode: str) -> None:
        trunk, head = init_params(workload, jax.random.key(0))
        self.params = {"trunk": trunk, "head": head}
        tx, self.jitted = step_fn(workload, mode)
        self.opt_state = tx.init(self.params)
        self.x, self.y = make_batch(workload)
        self.count = 0

    def step(self) -> None:
        self.params, self.opt_state, loss = self.jitted(
            self.params, self.opt_state, self.x, self.y, self.count
        )
        jax.block_until_ready((self.params, self.opt_state, loss))
        self.count += 1

    def kind(self) -> str:
        return "refresh" if self.count % REFRESH_EVERY == 0 else "reuse"


def build_modes(workload: Workload) -> dict[str, Mode]:
    states = {name: JaxStep(workload, name) for name in MODES}
    return {
        "plain": Mode(states["plain"].step, note="jit(value_and_grad + adam)"),
        "exact": Mode(states["exact"].step, note="value_and_split_grad + chain(cosmoreg, adam)"),
        "amortized": Mode(
            states["amortized"].step,
            kind=states["amortized"].kind,
            refresh_every=REFRESH_EVERY,
            note=f"cosmoreg_step_grads(refresh=step % {REFRESH_EVERY} == 0), jit with refresh "
            f"static + cosmoreg(refresh_every={REFRESH_EVERY})",
        ),
        "amortized-cond": Mode(
            states["amortized-cond"].step,
            kind=states["amortized-cond"].kind,
            refresh_every=REFRESH_EVERY,
            note="cosmoreg_step_grads(refresh=None): one jit, a lax.cond on needs_refresh "
            "(reported, no target)",
        ),
    }


def memory_setup(workload: Workload, mode: str) -> Callable[[], Callable[[], None]]:
    return lambda: JaxStep(workload, mode).step


def energy_kernel_modes(size: int) -> dict[str, dict[str, Mode]]:
    """``energy(h)`` and a bare ``sum(h*h)``, value and gradient under one ``jax.jit``."""
    h = jax.random.normal(jax.random.key(2), (size, size))

    def timed(fn: Callable[[jax.Array], jax.Array]) -> Callable[[], None]:
        jitted = jax.jit(jax.value_and_grad(fn))
        return lambda: jax.block_until_ready(jitted(h))

    return {
        "jax_jit": {
            "bare": Mode(timed(lambda x: jnp.sum(x * x)), note="sum(h*h)"),
            "energy": Mode(
                timed(lambda x: cr.energy(x, M_scale=M_SCALE)), note="cosmoreg_jax.energy"
            ),
        }
    }


def describe() -> dict[str, object]:
    return {"jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}
