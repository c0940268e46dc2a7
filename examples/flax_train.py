"""Train a Flax NNX MLP on the digits with CosmoReg as an optax transformation.

The hidden layer is tapped with ``cosmoreg_jax.flax.tap``; one forward pass gives the task loss
and the energy S of the tapped activations, ``cosmoreg_jax.value_and_split_grad`` their two
gradients, and ``optax.chain(cosmoreg_jax.cosmoreg(...), optax.adam(...))`` turns them into the
update ∇L_task + λ_t·∇S. Every seed trains at once (``jax.vmap``), one jitted ``lax.scan`` per
epoch. The PyTorch twin is ``torch_train.py``: same model, data, functions and command line.

    python examples/flax_train.py --epochs 30 --M-scale 2.0
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from config import History, RunConfig, parse_args, write_json
from digits import NUM_CLASSES, NUM_FEATURES, Split, load_split, seed_batches
from flax import nnx
from tqdm import tqdm

import cosmoreg_jax
import cosmoreg_jax.flax

__all__ = [
    "MLP",
    "evaluate",
    "forward",
    "load_weights",
    "main",
    "make_optimizer",
    "numpy_weights",
    "probe",
    "train",
]

ModelFn = Callable[[nnx.Rngs], nnx.Module]
Params = Any  # an nnx.State of parameters


class MLP(nnx.Module):
    """64 → hidden (ReLU, tapped) → 10."""

    def __init__(self, hidden: int, *, rngs: nnx.Rngs) -> None:
        self.fc = nnx.Linear(NUM_FEATURES, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, NUM_CLASSES, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = cosmoreg_jax.flax.tap(self, nnx.relu(self.fc(x)))
        return self.head(h)


def make_optimizer(
    reg: str, learning_rate: float, hyper: Mapping[str, Any]
) -> optax.GradientTransformationExtraArgs:
    """Adam, preceded by CosmoReg or coupled L2 weight decay (see ``config.py``).

    ``hyper`` holds ``lambda_0``, ``alpha`` and ``weight_decay`` as numbers or (traced) arrays,
    so that one compiled training step serves a whole hyper-parameter sweep.
    """
    adam = optax.adam(learning_rate)
    if reg == "cosmoreg":
        return optax.chain(cosmoreg_jax.cosmoreg(hyper["lambda_0"], hyper["alpha"]), adam)
    if reg == "l2":
        return optax.chain(optax.add_decayed_weights(hyper["weight_decay"]), adam)
    return adam


def _hyper(config: RunConfig) -> dict[str, jax.Array]:
    """The swept hyper-parameters of ``config`` as float32 arrays (arguments, not constants)."""
    names = ("M_scale", "lambda_0", "alpha", "weight_decay")
    return {name: jnp.float32(getattr(config, name)) for name in names}


def forward(graphdef: nnx.GraphDef, params: Params, x: jax.Array) -> tuple[jax.Array, list]:
    """Logits and the list of tapped activations of one forward pass."""
    model = nnx.merge(graphdef, params)
    logits = model(x)
    return logits, cosmoreg_jax.flax.collect(model)


def _cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def evaluate(
    graphdef: nnx.GraphDef, params: Params, x: jax.Array, y: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Mean cross-entropy, accuracy, and ‖h_i‖ of every tapped activation vector."""
    logits, taps = forward(graphdef, params, x)
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == y)
    norms = jnp.concatenate([jnp.linalg.norm(h, axis=-1).ravel() for h in taps])
    return _cross_entropy(logits, y), accuracy, norms


@functools.cache
def _compiled_epoch(graphdef: nnx.GraphDef, reg: str, learning_rate: float) -> Callable:
    """One epoch for every seed: a jitted ``lax.scan`` over the batches, mapped over seeds.

    Cached per model structure and regularizer kind; the hyper-parameters are arguments.
    """

    def losses(params: Params, hyper, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits, taps = forward(graphdef, params, x)
        return _cross_entropy(logits, y), cosmoreg_jax.energy(taps, M_scale=hyper["M_scale"])

    grad_fn = cosmoreg_jax.value_and_split_grad(losses)

    def epoch(params, opt_state, index, hyper, x_train, y_train, x_val, y_val):
        tx = make_optimizer(reg, learning_rate, hyper)

        def step(carry, batch):
            params, opt_state = carry
            (task_loss, energy), (task_grads, reg_grads) = grad_fn(params, hyper, *batch)
            updates, opt_state = tx.update(task_grads, opt_state, params, reg_grads=reg_grads)
            params = optax.apply_updates(params, updates)
            if reg == "cosmoreg":
                lam = optax.tree.get(opt_state, "lambda_t")
                g = optax.tree.get(opt_state, "task_grad_norm_sq")
            else:
                lam, g = jnp.zeros_like(task_loss), optax.tree.norm(task_grads, squared=True)
            return (params, opt_state), (task_loss, energy, lam, g)

        batches = (x_train[index], y_train[index])
        (params, opt_state), logs = jax.lax.scan(step, (params, opt_state), batches)
        val_loss, val_acc, _ = evaluate(graphdef, params, x_val, y_val)
        return params, opt_state, logs, val_loss, val_acc

    def every_seed(params, opt_state, hyper, index, *data):
        # lax.map, not vmap: vmapped convolutions become grouped convolutions, which XLA runs
        # slowly on CPU; for the MLP the two are equally fast.
        return jax.lax.map(lambda seed: epoch(*seed, hyper, *data), (params, opt_state, index))

    return jax.jit(every_seed)


@functools.cache
def _compiled_test(graphdef: nnx.GraphDef) -> Callable:
    """``evaluate`` for every seed, jitted."""
    return jax.jit(jax.vmap(functools.partial(evaluate, graphdef), in_axes=(0, None, None)))


def _init_params(model_fn: ModelFn, seeds: Sequence[int]) -> tuple[nnx.GraphDef, Params]:
    """The graph definition and the parameters of every seed, stacked on a leading axis."""
    splits = [nnx.split(model_fn(rngs=nnx.Rngs(seed)), nnx.Param) for seed in seeds]
    return splits[0][0], jax.tree.map(lambda *leaves: jnp.stack(leaves), *(p for _, p in splits))


def train(
    config: RunConfig,
    seeds: Sequence[int],
    model_fn: ModelFn | None = None,
    split: Split | None = None,
    log: bool = True,
) -> History:
    """Train one model per seed (the default model is the ``MLP``) and return its history.

    A seed fixes the initial weights and the batch order. With ``log``, a progress bar and one
    line per epoch (means over seeds) are printed.
    """
    split = split or load_split()
    model_fn = model_fn or functools.partial(MLP, config.hidden)
    graphdef, params = _init_params(model_fn, seeds)
    hyper = _hyper(config)
    opt_state = jax.vmap(make_optimizer(config.reg, config.learning_rate, hyper).init)(params)
    epoch_fn = _compiled_epoch(graphdef, config.reg, config.learning_rate)
    data = tuple(jnp.asarray(a) for a in (*split.subset("train"), *split.subset("val")))
    orders = [seed_batches(s, config.epochs, len(split.y_train), config.batch_size) for s in seeds]

    step_logs, val_logs = [], []
    bar = tqdm(range(config.epochs), desc=f"flax {config.label}", disable=not log, leave=False)
    for epoch in bar:
        index = jnp.asarray(np.stack([next(order) for order in orders]))
        params, opt_state, logs, val_loss, val_acc = epoch_fn(
            params, opt_state, hyper, index, *data
        )
        step_logs.append(logs)
        val_logs.append((val_loss, val_acc))
        if log:
            task_loss, energy, lam, _ = (float(jnp.mean(a)) for a in logs)
            tqdm.write(
                f"epoch {epoch + 1:3d}  task loss {task_loss:.4f}  energy {energy:10.4g}  "
                f"λ_t {lam:.4g}  val loss {float(val_loss.mean()):.4f}  "
                f"val acc {float(val_acc.mean()):.4f}"
            )

    test_fn = _compiled_test(graphdef)
    test_loss, test_acc, test_norms = test_fn(params, *map(jnp.asarray, split.subset("test")))
    task_loss, energy, lam, g = (
        np.concatenate([np.asarray(logs[i]) for logs in step_logs], axis=1) for i in range(4)
    )
    return History(
        task_loss=task_loss,
        energy=energy,
        lambda_t=lam,
        task_grad_norm_sq=g,
        val_loss=np.stack([np.asarray(v) for v, _ in val_logs], axis=1),
        val_acc=np.stack([np.asarray(a) for _, a in val_logs], axis=1),
        test_loss=np.asarray(test_loss),
        test_acc=np.asarray(test_acc),
        test_norms=np.asarray(test_norms),
        weights=[
            numpy_weights(jax.tree.map(lambda a, i=i: a[i], params)) for i in range(len(seeds))
        ],
    )


def numpy_weights(params: Params) -> dict[str, np.ndarray]:
    """Parameters as ``{"layer/kernel": array}`` in the Flax layout (Dense kernels (in, out))."""
    return {
        "/".join(map(str, path)): np.asarray(leaf.get_value())
        for path, leaf in nnx.to_flat_state(params)
    }


def load_weights(model: nnx.Module, weights: dict[str, np.ndarray]) -> nnx.Module:
    """Copy ``{"layer/kernel": array}`` weights (Flax layout) into ``model`` in place."""
    for name, value in weights.items():
        layer, kind = name.split("/")
        getattr(getattr(model, layer), kind).set_value(jnp.asarray(value))
    return model


def probe(weights: dict[str, np.ndarray], config: RunConfig, x: np.ndarray, y: np.ndarray):
    """The CosmoReg quantities of an ``MLP`` with ``weights`` on ``(x, y)``, in float64 NumPy.

    Returns a dict: ``activations`` (the tapped layer), ``task_grad_norm_sq`` (g), ``energy``
    (S) and ``lambda_energy`` (λ_t·S with λ_t from that g), computed with ``cosmoreg_jax``.
    """
    model = load_weights(MLP(config.hidden, rngs=nnx.Rngs(0)), weights)
    graphdef, params = nnx.split(model, nnx.Param)

    def task_loss(params: Params) -> tuple[jax.Array, list]:
        logits, taps = forward(graphdef, params, jnp.asarray(x))
        return _cross_entropy(logits, jnp.asarray(y)), taps

    (_, taps), grads = jax.value_and_grad(task_loss, has_aux=True)(params)
    g = optax.tree.norm(grads, squared=True)
    hyper = {"M_scale": config.M_scale, "lambda_0": config.lambda_0, "alpha": config.alpha}
    return {
        "activations": np.asarray(taps[0], np.float64),
        "task_grad_norm_sq": float(g),
        "energy": float(cosmoreg_jax.energy(taps, M_scale=config.M_scale)),
        "lambda_energy": float(cosmoreg_jax.cosmoreg_loss(taps, g, **hyper)),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train one seed, print the per-epoch log, write ``<out-dir>/flax_train.json``."""
    config, seed, out_dir = parse_args(argv, "Train a Flax NNX MLP on the digits with CosmoReg.")
    history = train(config, [seed])
    config_dict = dataclasses.asdict(config)
    result = {"framework": "flax", "seed": seed, "config": config_dict, **history.summary()}
    write_json(out_dir / "flax_train.json", result)
    accuracy, loss = result["test_acc"], result["test_loss"]
    print(f"flax {config.label}: test accuracy {accuracy:.4f}, test loss {loss:.4f}")
    return result


if __name__ == "__main__":
    main()
