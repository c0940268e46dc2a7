"""Train, checkpoint and resume, for ``tests/test_checkpoint.py`` (a script: each call is a fresh
process).

    python tests/_checkpoint_worker.py {jax,torch} full DIR     # 40 steps; checkpoint at 20
    python tests/_checkpoint_worker.py {jax,torch} resume DIR   # restore, then steps 20..39

Both write their final parameters to ``DIR/{mode}.npz``. The batch of step t depends on t only,
and λ_t is amortized (``refresh_every=3``), so the restored step count decides which steps
refresh λ_t: a checkpoint that lost it would change the trajectory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

STEPS, CHECKPOINT_AT, REFRESH_EVERY = 40, 20, 3
BATCH, FEATURES, HIDDEN, CLASSES = 16, 6, 8, 3
LAMBDA_0, ALPHA, M_SCALE = 0.5, 1.0, 2.0


def batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(step)
    x = (2.0 * rng.standard_normal((BATCH, FEATURES))).astype(np.float32)
    return x, rng.integers(0, CLASSES, BATCH)


def run_jax(mode: str, directory: Path) -> dict[str, np.ndarray]:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import serialization

    import cosmoreg_jax

    def init_params(seed: int) -> dict[str, jax.Array]:
        k1, k2 = jax.random.split(jax.random.key(seed))
        return {
            "w1": jax.random.normal(k1, (FEATURES, HIDDEN)) / FEATURES**0.5,
            "b1": jnp.zeros(HIDDEN),
            "w2": jax.random.normal(k2, (HIDDEN, CLASSES)) / HIDDEN**0.5,
            "b2": jnp.zeros(CLASSES),
        }

    def losses(params, x, y):
        h = jnp.tanh(x @ params["w1"] + params["b1"])
        logits = h @ params["w2"] + params["b2"]
        task = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return task, cosmoreg_jax.energy(h, M_scale=M_SCALE)

    tx = optax.chain(
        cosmoreg_jax.cosmoreg(LAMBDA_0, ALPHA, refresh_every=REFRESH_EVERY), optax.adam(0.02)
    )

    @jax.jit
    def step(params, opt_state, x, y):
        _, (grads, reg_grads) = cosmoreg_jax.cosmoreg_step_grads(
            losses, opt_state, params, x, y, refresh_every=REFRESH_EVERY
        )
        updates, opt_state = tx.update(grads, opt_state, params, reg_grads=reg_grads)
        return optax.apply_updates(params, updates), opt_state

    checkpoint = directory / "jax.msgpack"
    if mode == "full":
        params = init_params(0)
        opt_state, start = tx.init(params), 0
    else:
        # A template of the right structure: other values, all overwritten by the checkpoint.
        template = {"params": init_params(1), "opt_state": tx.init(init_params(1))}
        restored = serialization.from_bytes(template, checkpoint.read_bytes())
        params, opt_state, start = restored["params"], restored["opt_state"], CHECKPOINT_AT
    for t in range(start, STEPS):
        if mode == "full" and t == CHECKPOINT_AT:
            state = {"params": params, "opt_state": opt_state}
            checkpoint.write_bytes(serialization.to_bytes(state))
        params, opt_state = step(params, opt_state, *batch(t))
    return {
        **{name: np.asarray(p) for name, p in params.items()},
        "lambda_t": np.asarray(cosmoreg_jax.current_lambda(opt_state)),
    }


def run_torch(mode: str, directory: Path) -> dict[str, np.ndarray]:
    import torch
    from torch import nn

    import cosmoreg_torch

    torch.set_num_threads(1)

    def make(seed: int):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, CLASSES))
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        reg = cosmoreg_torch.CosmoReg(
            model.parameters(), LAMBDA_0, ALPHA, refresh_every=REFRESH_EVERY
        )
        return model, opt, reg

    checkpoint = directory / "torch.pt"
    if mode == "full":
        (model, opt, reg), start = make(0), 0
    else:
        (model, opt, reg), start = make(1), CHECKPOINT_AT
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        reg.load_state_dict(state["cosmoreg"])
    with cosmoreg_torch.ActivationTap(model, ["1"]) as tap:
        for t in range(start, STEPS):
            if mode == "full" and t == CHECKPOINT_AT:
                state = {"model": model, "optimizer": opt, "cosmoreg": reg}
                torch.save({k: v.state_dict() for k, v in state.items()}, checkpoint)
            x, y = (torch.from_numpy(a) for a in batch(t))
            opt.zero_grad()
            task = nn.functional.cross_entropy(model(x), y)
            reg.backward(task, tap.energy(M_scale=M_SCALE))
            opt.step()
    return {
        **{name: p.detach().numpy() for name, p in model.named_parameters()},
        "lambda_t": reg.lambda_t.numpy(),
    }


def main(framework: str, mode: str, directory: str) -> None:
    run = {"jax": run_jax, "torch": run_torch}[framework]
    np.savez(Path(directory) / f"{mode}.npz", **run(mode, Path(directory)))


if __name__ == "__main__":
    main(*sys.argv[1:])
