"""Data-parallel CosmoReg in JAX: the batch sharded over a ``Mesh``, one ``jit``, nothing else.

λ_t = Λ0·exp(−min(α·‖∇θ L_task‖², 70)) needs the norm of the *global* task gradient. Under
``jax.jit`` with a batch sharded over the mesh's ``"data"`` axis, ``jax.grad`` of the mean loss
already is the global gradient (XLA inserts the all-reduce), so ``value_and_split_grad`` and the
optax transformation ``cosmoreg_jax.cosmoreg`` are used unchanged and λ_t is the same on every
device: the step equals the single-device step on the whole batch. The energy should then use
``reduction="mean"`` (or a sum over the global batch: under ``jit`` both are global).

The parameters may also be sharded, FSDP-style, over a second mesh axis ``"model"``
(:func:`param_shardings`); XLA gathers them where needed. On several hosts, call
``jax.distributed.initialize()`` first and build the same mesh from ``jax.devices()``.

    python examples/flax_data_parallel.py --data 4 --model 2   # 8 devices, e.g. on CPU with
    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/flax_data_parallel.py ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import cosmoreg_jax
import cosmoreg_jax.flax

__all__ = [
    "MLP",
    "make_mesh",
    "make_train_step",
    "param_shardings",
    "shard_batch",
    "train",
]

Params = Any  # an nnx.State of parameters
Step = Callable[..., tuple[Params, optax.OptState, tuple[jax.Array, ...]]]


class MLP(nnx.Module):
    """features → hidden (tanh, tapped) → classes."""

    def __init__(self, features: int, hidden: int, classes: int, *, rngs: nnx.Rngs) -> None:
        self.fc = nnx.Linear(features, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(cosmoreg_jax.flax.tap(self, jnp.tanh(self.fc(x))))


def make_mesh(data: int, model: int = 1) -> Mesh:
    """A ``data × model`` mesh over the first ``data·model`` devices."""
    devices = np.asarray(jax.devices()[: data * model]).reshape(data, model)
    return Mesh(devices, ("data", "model"))


def param_shardings(mesh: Mesh, params: Params) -> Params:
    """FSDP-style shardings: each array is split over ``"model"`` along its largest axis that
    the axis size divides, and replicated if none does (or if ``"model"`` has size 1)."""
    size = mesh.shape["model"]

    def sharding(leaf: jax.Array) -> NamedSharding:
        axes = [i for i, n in enumerate(leaf.shape) if n % size == 0 and size > 1]
        if not axes:
            return NamedSharding(mesh, P())
        axis = max(axes, key=lambda i: leaf.shape[i])
        return NamedSharding(mesh, P(*(["model" if i == axis else None for i in range(leaf.ndim)])))

    return jax.tree.map(sharding, params)


def shard_batch(mesh: Mesh, *arrays: np.ndarray) -> tuple[jax.Array, ...]:
    """Split each array's leading (batch) axis over ``"data"``, replicated over ``"model"``."""
    return tuple(jax.device_put(a, NamedSharding(mesh, P("data"))) for a in arrays)


def make_train_step(
    graphdef: nnx.GraphDef, tx: optax.GradientTransformationExtraArgs, M_scale: float
) -> Step:
    """``step(params, opt_state, x, y) -> (params, opt_state, (task_loss, energy, λ_t))``.

    The task loss is the mean cross-entropy over the global batch and the energy S averages
    φ(‖h_i‖²) over it (``reduction="mean"``). Not jitted: :func:`train` jits it once.
    """

    def losses(params: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        model = nnx.merge(graphdef, params)
        logits = model(x)
        task = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        taps = cosmoreg_jax.flax.collect(model)
        return task, cosmoreg_jax.energy(taps, M_scale=M_scale, reduction="mean")

    grad_fn = cosmoreg_jax.value_and_split_grad(losses)

    def step(params, opt_state, x, y):
        (task, energy), (task_grads, reg_grads) = grad_fn(params, x, y)
        updates, opt_state = tx.update(task_grads, opt_state, params, reg_grads=reg_grads)
        params = optax.apply_updates(params, updates)
        return params, opt_state, (task, energy, cosmoreg_jax.current_lambda(opt_state))

    return step


def train(
    mesh: Mesh,
    graphdef: nnx.GraphDef,
    params: Params,
    tx: optax.GradientTransformationExtraArgs,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    M_scale: float = 2.0,
) -> tuple[Params, optax.OptState, list[tuple[float, float, float]]]:
    """Train on ``batches`` (global batches, split over ``"data"``) with one jitted step.

    The parameters keep the shardings of :func:`param_shardings`, the optimizer state those
    XLA gives ``tx.init``'s outputs (Adam's moments follow the parameters; the scalars, such as
    the ``CosmoRegState``, are replicated). Returns the final parameters,
    optimizer state and the per-step ``(task_loss, energy, λ_t)``.
    """
    params = jax.device_put(params, param_shardings(mesh, params))
    opt_state = _on_mesh(mesh, jax.jit(tx.init)(params))
    shardings = jax.tree.map(lambda a: a.sharding, (params, opt_state))
    step = jax.jit(make_train_step(graphdef, tx, M_scale), out_shardings=(*shardings, None))
    logs = []
    for x, y in batches:
        params, opt_state, values = step(params, opt_state, *shard_batch(mesh, x, y))
        logs.append(tuple(float(v) for v in values))
    return params, opt_state, logs


def _on_mesh(mesh: Mesh, tree: Any) -> Any:
    """``tree`` with every array that lives on fewer devices than the mesh replicated over it."""

    def place(leaf: jax.Array) -> jax.Array:
        if len(leaf.sharding.device_set) == mesh.size:
            return leaf
        return jax.device_put(leaf, NamedSharding(mesh, P()))

    return jax.tree.map(place, tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=int, default=jax.device_count(), help="data-axis size")
    parser.add_argument("--model", type=int, default=1, help="model-axis size (FSDP-style)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    from digits import NUM_CLASSES, NUM_FEATURES, load_split

    split = load_split()
    rng = np.random.default_rng(0)
    batches = (
        (split.x_train[i], split.y_train[i])
        for i in (rng.choice(len(split.y_train), args.batch_size) for _ in range(args.steps))
    )
    mesh = make_mesh(args.data, args.model)
    graphdef, params = nnx.split(MLP(NUM_FEATURES, 64, NUM_CLASSES, rngs=nnx.Rngs(0)), nnx.Param)
    tx = optax.chain(cosmoreg_jax.cosmoreg(0.01, 0.05), optax.adam(1e-2))
    _, _, logs = train(mesh, graphdef, params, tx, batches)
    for i in range(0, args.steps, max(1, args.steps // 10)):
        task, energy, lam = logs[i]
        print(f"step {i:4d}  task loss {task:.4f}  energy {energy:9.4g}  λ_t {lam:.4g}")
    print(f"mesh {dict(mesh.shape)}: final task loss {logs[-1][0]:.4f}")


if __name__ == "__main__":
    main()
