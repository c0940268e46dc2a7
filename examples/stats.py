"""Small statistics for seed-paired comparisons (NumPy and SciPy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedDiff", "fraction_near", "mean_std", "paired_diff"]


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray(values, np.float64)
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


@dataclass(frozen=True)
class PairedDiff:
    """Mean of the per-seed differences a − b and its t-interval."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def sign(self) -> int:
        """+1 if the interval lies above 0, −1 if below, 0 if it contains 0."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    def format(self, scale: float = 1.0, digits: int = 2) -> str:
        """``+0.12 [−0.30, +0.54]``, values multiplied by ``scale`` (e.g. 100 for points)."""
        m, lo, hi = (scale * v for v in (self.mean, self.low, self.high))
        return f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def paired_diff(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> PairedDiff:
    """The ``confidence`` t-interval (``scipy.stats.t``) of the mean of a − b over seeds."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    n = diff.size
    mean = float(diff.mean())
    if n < 2:
        return PairedDiff(mean, -np.inf, np.inf, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1) * diff.std(ddof=1) / np.sqrt(n))
    return PairedDiff(mean, mean - half, mean + half, n)


def fraction_near(norms: np.ndarray, radius: float, tolerance: float = 0.25) -> np.ndarray:
    """Per row of ``norms``, the fraction within ±``tolerance``·radius of ``radius``."""
    return np.mean(np.abs(np.asarray(norms) - radius) <= tolerance * radius, axis=-1)
