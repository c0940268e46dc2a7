"""stable_radius / barrier_radius: critical points of φ, checked against the oracle's φ'."""

import math

import numpy as np
import pytest

import cosmoreg_jax
import cosmoreg_torch
from parity_tests import oracle

BACKENDS = [cosmoreg_torch, cosmoreg_jax]


@pytest.mark.parametrize("lib", BACKENDS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("M_scale", [1.5, 2.0, 3.0, 10.0, 100.0])
def test_radii_are_the_minimum_and_maximum_of_phi(lib, M_scale):
    r_s, r_b = lib.stable_radius(M_scale), lib.barrier_radius(M_scale)
    assert 0 < r_b < M_scale / math.sqrt(2) < r_s
    for r, curvature_sign in ((r_s, 1.0), (r_b, -1.0)):
        s = r * r
        # φ' vanishes there (up to the O(ε) shift the closed form neglects) ...
        assert abs(oracle.potential_grad(s, M_scale)) < 1e-6
        # ... and φ is lower (minimum) or higher (barrier) a little way off on both sides.
        h = 1e-3 * s
        neighbours = oracle.potential(np.array([s - h, s + h]), M_scale)
        assert np.all(curvature_sign * (neighbours - oracle.potential(s, M_scale)) > 0)


def test_backends_agree_exactly():
    for M_scale in (1.5, 2.0, 10.0):
        assert cosmoreg_torch.stable_radius(M_scale) == cosmoreg_jax.stable_radius(M_scale)
        assert cosmoreg_torch.barrier_radius(M_scale) == cosmoreg_jax.barrier_radius(M_scale)


@pytest.mark.parametrize("lib", BACKENDS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("M_scale", [0.5, 1.0, math.sqrt(2) - 1e-12])
def test_no_stable_radius_at_or_below_sqrt2(lib, M_scale):
    with pytest.raises(ValueError, match="monotonically"):
        lib.stable_radius(M_scale)
    with pytest.raises(ValueError, match="monotonically"):
        lib.barrier_radius(M_scale)
    # φ is indeed monotone in s there: φ' > 0 on a fine grid.
    s = np.geomspace(1e-6, 1e3, 2000)
    assert np.all(oracle.potential_grad(s, M_scale, eps=0.0) > 0)


@pytest.mark.parametrize("lib", BACKENDS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("M_scale", [0.0, -2.0, math.inf, math.nan])
def test_bad_m_scale(lib, M_scale):
    with pytest.raises(ValueError, match=f"M_scale={M_scale!r}"):
        lib.stable_radius(M_scale)
