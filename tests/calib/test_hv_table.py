"""HV arithmetic against hand-computed values: HV_new = HV (T/A)^(1/k)."""

import pytest

from calib.hv_table import propose_hv


def _p(amplitude=2445.0, hv=942.0, target=2500.0, k=7.0, lo=500.0, hi=1500.0, step=50.0,
       large="split"):
    return propose_hv("HCAL3:0:2", amplitude, hv, target, k, lo, hi, step, large)


def test_hand_computed_values():
    # 942 * (2500/2445)^(1/7) = 942 * 1.0031826 = 944.998
    assert _p().hv_new == 945.0
    # 690 * (2500/2433)^(1/7) = 690 * 1.0038887 = 692.683 (the logbook's 0-1-2)
    assert _p(2433.0, 690.0).hv_new == 692.7
    # k = 10, half the target: 800 * 2^(0.1) = 857.397, within a 60 V step
    assert _p(1250.0, 800.0, k=10.0, step=60.0).hv_new == 857.4
    assert _p(2500.0, 830.0).hv_new == 830.0  # on target: unchanged


def test_a_large_step_is_split_or_refused():
    split = _p(1250.0, 800.0, k=10.0, step=20.0)
    assert split.hv_new == 820.0 and split.limited
    refused = _p(1250.0, 800.0, k=10.0, step=20.0, large="refuse")
    assert refused.hv_new is None and "exceeds the maximum of 20 V" in refused.refused


@pytest.mark.parametrize("kw, why", [
    ({"hv": None}, "no current HV"),
    ({"amplitude": None}, "no measured amplitude"),
    ({"amplitude": 0.0}, "not positive"),
    ({"amplitude": -5.0}, "not positive"),
    ({"hi": 944.0}, "outside the channel's limits 500-944 V (not clipped)"),
    ({"hv": 480.0, "amplitude": 2400.0}, "outside the channel's limits"),
])
def test_refusals_say_why_and_never_clip(kw, why):
    p = _p(**kw)
    assert p.hv_new is None and why in p.refused
    assert "refused" in p.as_dict() and "hv_new" not in p.as_dict()
