"""Test-session setup: float64 parity needs JAX's x64 mode, set before any computation."""

import jax

jax.config.update("jax_enable_x64", True)
