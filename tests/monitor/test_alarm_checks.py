"""The checks' statistics and each spill check on hand-made histograms: a change of the size
and significance the rules name fails, one within the statistics does not, and too little
data says so."""

import pytest
from scipy import stats

from monitor import alarm_checks as ac


def test_fisher_test_against_a_hand_computation():
    # 2 of 10 against 8 of 10: P(X <= 2) for X ~ hypergeometric(20 trials, 10 successes, 10
    # drawn) = sum_{x<=2} C(10,x) C(10,10-x) / C(20,10)
    from math import comb

    hand = sum(comb(10, x) * comb(10, 10 - x) for x in range(3)) / comb(20, 10)
    assert ac.fewer(2, 10, 8, 10) == pytest.approx(hand, rel=1e-9)
    assert ac.more(8, 10, 2, 10) == pytest.approx(hand, rel=1e-9)
    # rates: 5 counts in 1 spill against 100 in 10: binomial(105, 1/11) at most 5
    assert ac.rate_fewer(5, 1, 100, 10) == pytest.approx(stats.binom.cdf(5, 105, 1 / 11))


def test_p_fail_is_3_7_sigma():
    assert ac.Z_FAIL == pytest.approx(3.719, abs=1e-3)


@pytest.fixture
def spill(detector, filler):
    """A spill and a baseline of 5 spills of 1,000 beam triggers, every channel at 0.5
    hits per event, LED at 1,000 ADC (0.5 % spread), calibration electrons at E/E_beam 1."""
    def make(**changes):
        def one(scale=1.0):
            h = filler.new_set()
            n = 1000.0 * scale
            h["triggers"][:] = [n * 0.9, n * 0.1, 20 * scale, 10 * scale]
            h["channel_events"][:] = n
            h["channel_hits"][:] = 0.5 * n
            led_n = 10 * scale
            h["channel_led"][:] = [led_n, 1000 * led_n, led_n * (1000**2 + 5.0**2)]
            h["calibration_tags"][:] = [80 * scale, 78 * scale, 75 * scale, 78 * scale,
                                        80 * scale]
            h["physics_tags"][:] = [900 * scale, 880 * scale, 90 * scale, 30 * scale]
            d = h["calibration_drift"]
            d[:10, 0] = 8 * scale  # 8 electrons per 0.5 s bin over 5 s
            d[:10, 1] = d[:10, 2] = 8 * scale * 1.0
            d[:10, 3] = 8 * scale * (1.0 + 0.04**2)
            return h
        base = one(5)
        h = one()
        for name, f in changes.items():
            f(h[name])
        rows = [{"eot": 1e6}] * 5
        return ac.SpillData(9, h, {"eot": 1e6}, base, rows,
                            {"pedestal_adc": [100.0] * detector.n_channels,
                             "physics_prescale": 1.0}, detector)
    return make


def _channel(detector, name="ECAL1:2:3"):
    return detector.index(name)


def test_a_clean_spill_passes_every_check(spill):
    d = spill()
    for check in ac.checks():
        if check.kind == "spill":
            result = check.test(d)
            assert all(s in (ac.OK, ac.TOO_FEW) for s, _ in result.values()), (check.name,
                                                                               result)


def test_dead_and_hot_channels(spill, detector):
    k = _channel(detector)
    d = spill(channel_hits=lambda a: a.__setitem__(k, 100.0))  # 0.1 against 0.5
    assert list(ac.dead_channel(d)) == ["ECAL1:2:3"]
    assert ac.dead_channel(d)["ECAL1:2:3"][0] == ac.MAJOR
    d = spill(channel_hits=lambda a: a.__setitem__(k, 300.0))  # 0.3: p tiny, ratio 0.6
    assert ac.dead_channel(d) == {}  # significant, but not half: the rule's minimum size
    d = spill(channel_hits=lambda a: a.__setitem__(k, 1000.0))  # 1.0 against 0.5: twice
    assert ac.hot_channel(d) == {}  # ratio 2 is not above 2
    low = spill(channel_hits=lambda a: a.__setitem__(slice(None), 10.0))  # 0.01 hits/event
    low.base["channel_hits"][:] = 50.0
    low.h["channel_hits"][k] = 500.0
    assert list(ac.hot_channel(low)) == ["ECAL1:2:3"]


def test_pedestal_jump_against_the_value_in_force(spill, detector):
    k = _channel(detector)
    d = spill()
    ped = d.h["channel_pedestal"]
    ped[:, 0] = 40
    ped[:, 1] = 40 * 100.2
    ped[:, 2] = 40 * (100.2**2 + 0.6**2)
    assert ac.pedestal_jump(d) == {}  # 0.2 ADC: below 3
    ped[k] = [40, 40 * 105.0, 40 * (105.0**2 + 0.6**2)]
    assert ac.pedestal_jump(d)["ECAL1:2:3"][0] == ac.MINOR
    ped[k] = [40, 40 * 111.0, 40 * (111.0**2 + 0.6**2)]
    assert ac.pedestal_jump(d)["ECAL1:2:3"][0] == ac.MAJOR
    d.reference["pedestal_adc"] = [None] * detector.n_channels
    assert ac.pedestal_jump(d)["all"][0] == ac.TOO_FEW  # nothing in force: no green light


def test_without_a_pedestal_in_force_the_baseline_is_the_reference_and_the_text_says_so(
        spill, detector):
    """A default run has no pedestal calibration: the check was 'too few' for ever and a
    5 ADC jump went unseen. Against the baseline's own pedestals it is seen."""
    k = _channel(detector, "ECAL0:1:1")
    d = spill()
    d.reference["pedestal_adc"] = [None] * detector.n_channels
    for h, n in ((d.h, 40), (d.base, 200)):
        ped = h["channel_pedestal"]
        ped[:, 0] = n
        ped[:, 1] = n * 100.0
        ped[:, 2] = n * (100.0**2 + 0.6**2)
    assert ac.pedestal_jump(d) == {}  # tested, and clean
    assert d.channels["pedestal jump"]["against"] == "baseline"
    d.h["channel_pedestal"][k] = [40, 40 * 105.0, 40 * (105.0**2 + 0.6**2)]
    severity, text = ac.pedestal_jump(d)["ECAL0:1:1"]
    assert severity == ac.MINOR and "no pedestal in force" in text and "+5.0" in text
    d.base["channel_pedestal"][:] = 0  # and neither a baseline: no green light
    assert ac.pedestal_jump(d)["all"][0] == ac.TOO_FEW


def test_a_check_records_what_it_compared_and_it_fails_exactly_outside_the_limits(spill,
                                                                                  detector):
    """The panels draw what the checks record (``docs/monitor.md``): for the LED pulses, a
    channel alarms exactly when its drawn ratio lies outside the drawn limits, and its error
    is the check's; for the dimuon yield the same per spill."""
    k = _channel(detector)
    for ratio in (0.95, 0.985, 1.0, 1.03):
        d = spill()
        d.h["channel_led"][k] = [10, 10 * 1000 * ratio, 10 * ((1000 * ratio)**2 + 5.0**2)]
        alarmed = "ECAL1:2:3" in ac.gain_drift(d)
        led = d.channels["gain drift"]
        drawn = led["led_ratio"][k]
        assert drawn == pytest.approx(ratio)
        # the check's error: both means' spreads (5 ADC over 10 and 50 pulses) and 0.2 %
        assert led["led_error"][k] == pytest.approx(
            ((5.0 / 1000 / 10**0.5) ** 2 + (5.0 / 1000 / 50**0.5) ** 2 + 0.002**2) ** 0.5,
            rel=0.05)
        outside = abs(drawn - 1) > max(led["limit"], ac.Z_FAIL * led["led_error"][k])
        assert alarmed == outside, ratio
    for expected in (30e-6, 45e-6, 60e-6, 90e-6):
        d = spill()
        d.reference["dimuons_per_eot"] = expected
        d.row["eot_error"] = 0.15e6
        alarmed = bool(ac.dimuon_yield(d))
        y = d.drawn["dimuon yield"]
        assert y["expected"] == pytest.approx(expected * 1e9)
        assert alarmed == (not y["limits"][0] <= y["measured"] <= y["limits"][1]), expected


def test_the_dimuon_band_drawn_holds_the_clean_spills(spill):
    """A model of its own: dimuons Poisson in the true exposure, the EOT estimate 15 % off it
    per spill (the beam counters of ~100 random triggers). The band the panel draws (the
    check's) holds every clean spill; the Poisson-only band it drew before left about a
    quarter of them outside while the alarm stayed green."""
    import numpy as np

    rng = np.random.default_rng(7)
    outside = outside_poisson = alarms = 0
    n = 300
    for _ in range(n):
        d = spill()
        d.reference["dimuons_per_eot"] = 60e-6
        k = rng.poisson(60e-6 * 5e6)
        estimate = 5e6 * (1 + 0.15 * rng.standard_normal())
        d.h["physics_tags"][3] = k
        d.row.update(eot=estimate, eot_error=0.15 * estimate)
        alarms += bool(ac.dimuon_yield(d))
        y = d.drawn["dimuon yield"]
        outside += not y["limits"][0] <= y["measured"] <= y["limits"][1]
        mu = 60e-6 * estimate
        outside_poisson += abs(k - mu) > 2 * mu**0.5
    assert alarms == outside <= 2  # about 3e-4 expected per spill
    assert outside_poisson > 0.15 * n


def test_srd_efficiency_drop(spill):
    d = spill(calibration_tags=lambda a: a.__setitem__(1, 60.0))  # 75 % against 97.5 %
    assert ac.srd_efficiency(d)["all"][0] == ac.MAJOR
    d = spill(calibration_tags=lambda a: a.__setitem__(1, 76.0))
    assert ac.srd_efficiency(d) == {}
    d = spill(calibration_tags=lambda a: a.__setitem__(0, 20.0))
    assert ac.srd_efficiency(d)["all"][0] == ac.TOO_FEW


def test_gain_drift_of_one_channel_and_along_the_spill(spill, detector):
    k = _channel(detector)
    d = spill()
    led = d.h["channel_led"]
    led[k] = [10, 10 * 950.0, 10 * (950.0**2 + 5.0**2)]  # -5 %
    out = ac.gain_drift(d)
    assert set(out) == {"ECAL1:2:3"} and out["ECAL1:2:3"][0] == ac.MINOR
    led[k] = [10, 10 * 985.0, 10 * (985.0**2 + 5.0**2)]  # -1.5 %: below the 2 % size
    assert ac.gain_drift(d) == {}
    drift = d.h["calibration_drift"]
    drift[5:10, 1] = 8 * 0.95  # the second half of the spill 5 % low
    drift[5:10, 3] = 8 * (0.95**2 + 0.04**2)
    assert "along the spill" in ac.gain_drift(d)


def test_rate_drop_and_beam_off(spill):
    d = spill(triggers=lambda a: a.__setitem__(slice(0, 2), [300.0, 30.0]))
    assert ac.rate_drop(d)["all"][0] == ac.MINOR
    assert ac.beam_off(d) == {}
    d = spill(triggers=lambda a: a.__setitem__(slice(0, 2), [0.0, 0.0]))
    assert ac.beam_off(d)["all"][0] == ac.MAJOR
    for check in (ac.rate_drop, ac.dead_channel, ac.srd_efficiency, ac.dimuon_yield):
        assert check(d)["all"][0] == ac.TOO_FEW  # no beam: beam off says it, not these


def test_incomplete_events_per_source(spill, detector):
    d = spill(channel_events=lambda a: a.__setitem__(
        list(detector.source(3).channels), 1000.0 * 0.95))  # source 3 missing from 5 %
    assert list(ac.incomplete_events(d)) == ["source 3"]


def test_dimuon_yield_against_the_expected_one_and_the_baseline(spill):
    d = spill()
    d.reference["dimuons_per_eot"] = 30e-6  # 30 recorded in 1e6 EOT expected
    assert ac.dimuon_yield(d) == {}
    d.reference["dimuons_per_eot"] = 90e-6  # 90 expected, 30 seen
    assert ac.dimuon_yield(d)["all"][0] == ac.MINOR
    del d.reference["dimuons_per_eot"]
    d.h["physics_tags"][3] = 5  # 5 against the baseline's 30 per 1e6 EOT
    assert ac.dimuon_yield(d)["all"][0] == ac.MINOR


def test_srd_accidentals_rising(spill):
    d = spill(physics_tags=lambda a: a.__setitem__(2, 180.0))  # 20 % against 10 %
    assert ac.srd_accidentals(d)["all"][0] == ac.MINOR
    d = spill(physics_tags=lambda a: a.__setitem__(2, 110.0))
    assert ac.srd_accidentals(d) == {}


def test_early_saturation(spill):
    d = spill()
    drift = d.h["calibration_drift"]
    drift[:2, 0] = 20
    drift[:2, 1] = drift[:2, 2] = 20 * 0.93  # the first second 7 % low
    drift[:2, 3] = 20 * (0.93**2 + 0.04**2)
    assert ac.early_saturation(d)["all"][0] == ac.MAJOR
    drift[:2, 0] = 5
    assert ac.early_saturation(d)["all"][0] == ac.TOO_FEW


def test_state_checks(detector):
    def state(now, daq, **kw):
        return ac.StateData(now, daq, kw.get("age", 0.5), {"taken": kw.get("taken", 0)},
                            kw.get("ledgers", {}), 3)

    proc = {"role": "worker", "alive": True, "heartbeat_age_s": 0.2, "counters": {}}
    writer = {"role": "writer", "alive": True, "heartbeat_age_s": 0.2,
              "counters": {"written_events": 0}}
    daq = {"state": "running", "run": 3, "processes": {"worker0": proc, "writer": writer},
           "restarts": {}}
    check = ac.ProcessNotAnswering()
    assert check(state(0, daq)) == {}
    silent = dict(daq, processes={"worker0": dict(proc, heartbeat_age_s=4.0)},
                  restarts={"worker": 1})
    out = check(state(1, silent))
    assert out["worker0"][0] == ac.MAJOR and out["restarts"][0] == ac.MINOR
    assert ac.ProcessNotAnswering()(state(0, {}, age=None))["all"][0] == ac.TOO_FEW
    stale = ac.FeedStale()
    for t in range(12):  # the writer writes, the tap takes nothing
        w = dict(writer, counters={"written_events": 1000 * t})
        out = stale(state(float(t), dict(daq, processes={"writer": w}), taken=50))
    assert out == {}  # not yet: the writer's count may be seconds late
    for t in range(12, 15):
        w = dict(writer, counters={"written_events": 1000 * t})
        out = stale(state(float(t), dict(daq, processes={"writer": w}), taken=50))
    assert out["all"][0] == ac.MAJOR
    assert ac.FeedStale()(state(0, daq, age=11.0))["all"][0] == ac.MAJOR

    ledgers = {4: {"balanced": True}, 5: {"balanced": False, "triggered": 10,
                                          "written_complete": 8, "rejected": 0}}
    assert list(ac.ledger_imbalance(state(0, daq, ledgers=ledgers))) == ["spill 5"]
    rejected = ac.RejectedFrames()
    builder = {"role": "builder", "alive": True, "counters": {"sources": {
        "2": {"rejected": {"checksum": 1}}}}}
    with_builder = dict(daq, processes={"builder": builder})
    assert rejected(state(0, with_builder)) == {}  # counted from the run's start
    builder["counters"]["sources"]["2"]["rejected"]["checksum"] = 3
    assert list(rejected(state(1, with_builder))) == ["source 2"]


def test_the_feed_is_not_stale_at_the_beam_s_pace():
    """4.8 s spills every 19.8 s, the tap taking each batch at once, the writer's count
    arriving 2 s late through two heartbeats: it alarmed 10 s after every spill."""
    from monitor.alarm_checks import FeedStale, StateData

    stale, raised = FeedStale(), []
    writer_rate, lag = 1100.0, 2.0

    def written(t):  # what the writer had written by time t
        cycles, into = divmod(max(t, 0.0), 19.8)
        return writer_rate * (4.8 * cycles + min(into, 4.8))

    for k in range(int(200 / 0.5)):  # 200 s of 2 Hz evaluations
        t = 0.5 * k
        daq = {"state": "running", "run": 3, "processes": {"writer": {
            "counters": {"written_events": written(t - lag)}}}}
        out = stale(StateData(t, daq, 0.5, {"taken": written(t)}, {}, 3))
        if out:
            raised.append(t)
    assert raised == []

def test_every_check_has_guidance_and_a_panel_of_the_window():
    panels = {"Overview", "Physics rates", "Detector maps", "Calibration health", "DAQ"}
    names = [c.name for c in ac.checks()]
    assert len(names) == len(set(names)) == 17
    for c in ac.checks():
        assert c.panel in panels and len(c.guidance) > 60 and c.kind in ("spill", "state")
