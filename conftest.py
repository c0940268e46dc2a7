"""Test-session setup.

* float64 parity needs JAX's x64 mode, set before any computation.
* The tests' tensors are tiny: one intra-op thread avoids OpenMP spin-waiting on a shared
  2-core machine (it made a 50-step training trajectory ~3× slower).
"""

import jax
import torch

jax.config.update("jax_enable_x64", True)
torch.set_num_threads(1)
