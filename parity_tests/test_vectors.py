"""The committed vectors are what the script makes, and every case is inside tolerance."""

import numpy as np
import pytest

from parity_tests import harness, make_vectors

CASES = make_vectors.load()


def test_script_reproduces_committed_vectors_bit_for_bit(tmp_path):
    make_vectors.write(tmp_path)
    fresh = make_vectors.load(tmp_path)
    assert len(fresh) == len(CASES) > 0
    for (meta, h), (meta_ref, h_ref) in zip(fresh, CASES, strict=True):
        assert meta == meta_ref
        assert h.dtype == h_ref.dtype and h.shape == h_ref.shape
        assert h.tobytes() == h_ref.tobytes()


def test_cases_cover_the_contract():
    metas = [m for m, _ in CASES]
    assert {m["layout"] for m in metas} == {"BD", "BTD", "NCHW"}
    assert {m["M_scale"] for m in metas} == {0.5, 1.0, 2.0, 10.0}
    assert {m["reduction"] for m in metas} == {"sum", "mean"}
    assert any(m["g"] == 0 for m in metas) and any(0 < m["alpha"] * m["g"] < 70 for m in metas)
    assert any(m["alpha"] * m["g"] > 70 for m in metas)  # the clamp
    scales = [np.abs(h).max() for _, h in CASES]
    assert min(scales) < 1e-3 and max(scales) > 1e4
    assert any("zero_rows" in m["name"] for m in metas)
    assert any("huge_row" in m["name"] for m in metas)


@pytest.mark.parametrize("dtype", harness.DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[m["name"] for m, _ in CASES])
def test_case_within_tolerance(case, dtype):
    meta, h = case
    bad = [r for r in harness.evaluate(meta, h, dtype) if not r.ok]
    assert not bad, "\n".join(f"{r.quantity} {r.pair}: {r.max_rel:.3e} > {r.tol}" for r in bad)
