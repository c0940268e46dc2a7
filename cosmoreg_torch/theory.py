"""Closed-form landmarks of the potential φ(s) = −(s+ε)·ln(s+ε) + s²/M² (taking ε → 0).

φ'(s) = −ln s − 1 + 2s/M² vanishes where (−2s/M²)·exp(−2s/M²) = −2/(e·M²), i.e. at
s = −(M²/2)·W(−2/(e·M²)). The argument lies in [−1/e, 0) only for M² ≥ 2, so:

* M > √2: the W₀ branch gives the barrier (a local maximum of φ) and the W₋₁ branch the
  stable radius (the interior minimum) where activation norms are confined;
* M ≤ √2: φ increases monotonically in r = √s and there is no stable radius, which is the
  case of the published default ``M_scale=1.0``.

The ε = 1e-8 shift moves these points by O(ε), far below any practical resolution.
(The same file in both backends: the landmarks are plain floats.)
"""

from __future__ import annotations

import math

from scipy.special import lambertw

__all__ = ["barrier_radius", "stable_radius"]


def _critical_s(M_scale: float, branch: int, what: str) -> float:
    if not (math.isfinite(M_scale) and M_scale > 0):
        raise ValueError(f"M_scale must be finite and > 0, got M_scale={M_scale!r}")
    if M_scale * M_scale <= 2.0:
        raise ValueError(
            f"M_scale={M_scale!r} <= sqrt(2): phi increases monotonically in r, so there is no "
            f"{what} (an interior minimum and barrier exist only for M_scale > sqrt(2) ≈ 1.41421)"
        )
    w = lambertw(-2.0 / (math.e * M_scale * M_scale), k=branch)
    return float(-(M_scale * M_scale / 2.0) * w.real)


def stable_radius(M_scale: float) -> float:
    """Radius r_s = √s* of the interior minimum of φ: s* = −(M²/2)·W₋₁(−2/(e·M²)).

    Raises ``ValueError`` for ``M_scale <= √2``, where φ has no interior minimum.
    """
    return math.sqrt(_critical_s(M_scale, -1, "stable radius"))


def barrier_radius(M_scale: float) -> float:
    """Radius r_b = √s_b of the local maximum of φ: s_b = −(M²/2)·W₀(−2/(e·M²)).

    Raises ``ValueError`` for ``M_scale <= √2``, where φ has no barrier.
    """
    return math.sqrt(_critical_s(M_scale, 0, "barrier radius"))
