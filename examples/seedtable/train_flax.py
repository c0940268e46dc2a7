"""Train and test one arm of ``seed_table.py`` in JAX; ``train_torch.py`` is its PyTorch twin."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

import cosmoreg_jax
import cosmoreg_jax.flax
from seedtable import models_flax
from seedtable.data import Dataset
from seedtable.experiments import (
    ALPHA,
    LAMBDA_0,
    LEARNING_RATE,
    M_SCALE,
    Arm,
    Experiment,
    Result,
    TrainConfig,
    eval_batches,
    inputs,
    model_spec,
    steps_per_epoch,
    train_batches,
)

Params = nnx.State
# (params, opt_state, x, y) -> (params, opt_state, values to log)
Step = Callable[
    [Params, optax.OptState, jax.Array, jax.Array],
    tuple[Params, optax.OptState, dict[str, jax.Array]],
]


def device() -> str:
    return jax.default_backend()


def l2_penalty(params: Params) -> jax.Array:
    """Σθ² over the weight matrices and conv kernels (parameters with ndim ≥ 2)."""
    return sum(jnp.square(p).sum() for p in jax.tree.leaves(params) if p.ndim >= 2)


def cross_entropy(
    graphdef: nnx.GraphDef, params: Params, x: jax.Array, y: jax.Array
) -> tuple[jax.Array, nnx.Module]:
    """The mean cross-entropy of the model ``(graphdef, params)`` on a batch, and that model
    (which holds the activations tapped in this call)."""
    model = nnx.merge(graphdef, params)
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean(), model


def baseline_step(
    graphdef: nnx.GraphDef, tx: optax.GradientTransformation, l2_weight: float
) -> Step:
    """One Adam step on cross-entropy + ``l2_weight``·Σθ²."""

    def loss(params: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        task_loss, _ = cross_entropy(graphdef, params, x, y)
        return task_loss + l2_weight * l2_penalty(params) if l2_weight else task_loss, task_loss

    @jax.jit
    def step(params, opt_state, x, y):
        (_, task_loss), grads = jax.value_and_grad(loss, has_aux=True)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, {"loss": task_loss}

    return step


def cosmoreg_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformationExtraArgs) -> Step:
    """One Adam step along ∇L_task + λ_t·∇S, S the energy of the tapped activations."""

    def losses(params: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        task_loss, model = cross_entropy(graphdef, params, x, y)
        return task_loss, cosmoreg_jax.energy(cosmoreg_jax.flax.collect(model), M_SCALE)

    @jax.jit
    def step(params, opt_state, x, y):
        (task_loss, _), (task_grads, reg_grads) = cosmoreg_jax.value_and_split_grad(losses)(
            params, x, y
        )
        updates, opt_state = tx.update(task_grads, opt_state, params, reg_grads=reg_grads)
        logs = {"loss": task_loss, "λ": optax.tree.get(opt_state, "lambda_t")}
        return optax.apply_updates(params, updates), opt_state, logs

    return step


def fit(
    params: Params,
    opt_state: optax.OptState,
    step: Step,
    data: Dataset,
    config: TrainConfig,
    seed: int,
    desc: str,
) -> Params:
    """``config.epochs`` epochs of ``step`` over shuffled batches, with a progress bar."""
    x, y = jnp.asarray(inputs(data, "train")), jnp.asarray(data.y_train, jnp.int32)
    rng = np.random.default_rng(seed)
    total = config.epochs * steps_per_epoch(len(x), config.batch_size)
    with tqdm(total=total, desc=desc, leave=False) as bar:
        for epoch in range(config.epochs):
            for idx in train_batches(len(x), config.batch_size, rng):
                params, opt_state, logs = step(params, opt_state, x[idx], y[idx])
                bar.update()
            bar.set_postfix(epoch=epoch + 1, **{k: f"{float(v):.4g}" for k, v in logs.items()})
    return params


@functools.partial(jax.jit, static_argnums=0)
def batch_metrics(
    graphdef: nnx.GraphDef, params: Params, x: jax.Array, y: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The summed cross-entropy and the number of correct predictions on a batch."""
    logits = nnx.merge(graphdef, params)(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()
    return loss, (logits.argmax(axis=-1) == y).sum()


def evaluate(graphdef: nnx.GraphDef, params: Params, data: Dataset, batch_size: int) -> Result:
    """Accuracy and mean cross-entropy on ``data``'s test split, and the model's size."""
    x, y = jnp.asarray(inputs(data, "test")), jnp.asarray(data.y_test, jnp.int32)
    loss_sum, correct = 0.0, 0
    for batch in eval_batches(len(x), batch_size):
        loss, hits = batch_metrics(graphdef, params, x[batch], y[batch])
        loss_sum, correct = loss_sum + loss, correct + hits
    parameters = sum(p.size for p in jax.tree.leaves(params))
    return Result(int(correct) / len(x), float(loss_sum) / len(x), parameters)


def run(experiment: Experiment, arm: Arm, data: Dataset, config: TrainConfig, seed: int) -> Result:
    """Train a fresh model of ``arm`` on ``data``'s training split, then test it."""
    spec = model_spec(experiment, arm, config, data.num_classes)
    graphdef, params = nnx.split(models_flax.build(spec, seed), nnx.Param)
    if arm.cosmoreg:
        tx = optax.chain(cosmoreg_jax.cosmoreg(LAMBDA_0, ALPHA), optax.adam(LEARNING_RATE))
        step = cosmoreg_step(graphdef, tx)
    else:
        tx = optax.adam(LEARNING_RATE)
        step = baseline_step(graphdef, tx, arm.l2_weight)
    desc = f"{arm.name}, seed {seed}"
    params = fit(params, tx.init(params), step, data, config, seed, desc)
    return evaluate(graphdef, params, data, config.batch_size)
