"""Parity harness: cosmoreg_torch and cosmoreg_jax against a NumPy float64 oracle."""
