"""Each backend imports without the other framework (checked in a fresh interpreter)."""

import subprocess
import sys

import pytest

CASES = {
    "cosmoreg_torch": ("jax", "jaxlib", "flax", "optax", "chex"),
    "cosmoreg_jax": ("torch",),
}


@pytest.mark.parametrize("package", CASES)
def test_backend_does_not_import_the_other_framework(package):
    forbidden = CASES[package]
    code = (
        f"import sys, {package}\n"
        f"bad = sorted(m for m in {forbidden!r} if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"import {package} also imported: {out}"


def test_cosmoreg_jax_loads_optax_and_flax_only_when_asked():
    code = (
        "import sys, cosmoreg_jax\n"
        "from cosmoreg_jax import value_and_split_grad\n"
        "eager = sorted(m for m in ('flax', 'optax', 'chex') if m in sys.modules)\n"
        "cosmoreg_jax.cosmoreg()\n"
        "lazy = 'optax' in sys.modules and 'flax' not in sys.modules\n"
        "import cosmoreg_jax.flax\n"
        "print(eager, lazy, 'flax' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[] True True", f"unexpected imports: {out!r}"
