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
