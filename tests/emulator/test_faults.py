"""The emulator's faults (``docs/emulator.md``, Faults): each starts at its spill and changes
the waveforms, triggers or frames as documented, against the emulator's own truth."""

import numpy as np
import pytest

from daq.core.config_schema import ConfigError
from daq.core.wire_format import FrameKind, TriggerKind, decode

SHORT = {"spill.duration_s": 0.2, "beam.intensity_per_spill": 5e6 * 0.2 / 4.8,
         "trigger.led_rate_hz": 200.0, "faults.at_spill": 2}


def _channel(detector, emulator, spill, name):
    """Samples (events, samples) of one channel in one spill, with the event table."""
    batches = list(emulator.batches(emulator.spill_plan(spill)))
    k = detector.index(name)
    samples = np.concatenate([b.samples_in_map_order(detector)[:, k] for b in batches])
    events = np.concatenate([b.events for b in batches])
    return samples.astype(float), events


def _pulse(samples):
    """The largest excursion above the pedestal, even and odd samples apart (their
    pedestals differ)."""
    return np.maximum(samples[:, 0::2].max(1) - samples[:, 0:6:2].mean(1),
                      samples[:, 1::2].max(1) - samples[:, 1:6:2].mean(1))


def test_a_dead_channel_keeps_its_pedestal_and_loses_its_pulses(detector, make_emulator):
    em = make_emulator(**SHORT, **{"faults.dead_channel": "ECAL1:3:3"})
    before, _ = _channel(detector, em, 1, "ECAL1:3:3")
    after, _ = _channel(detector, em, 2, "ECAL1:3:3")
    assert np.median(_pulse(before)) > 1000  # the beam's central cell
    assert _pulse(after).max() < 15  # noise of 1.5 ADC only
    k = detector.index("ECAL1:3:3")
    assert after[:, 0::2].mean() == pytest.approx(em.pedestal[k, 0], abs=0.5)


def test_a_hot_channel_fires_in_every_event_but_random_triggers(detector, make_emulator):
    em = make_emulator(**SHORT, **{"faults.hot_channel": "ECAL1:0:0"})
    before, _ = _channel(detector, em, 1, "ECAL1:0:0")
    after, events = _channel(detector, em, 2, "ECAL1:0:0")
    assert np.median(_pulse(before)) < 20
    beam = events["trigger"] != TriggerKind.RANDOM
    assert np.percentile(_pulse(after)[beam], 1) > 250  # 300 ADC on top of what it sees
    assert np.median(_pulse(after)[~beam]) < 20


def test_a_pedestal_jump_moves_both_pedestals(detector, make_emulator):
    em = make_emulator(**SHORT, **{"faults.pedestal_channel": "ECAL1:1:1",
                                   "faults.pedestal_jump_adc": 5.0})
    before, _ = _channel(detector, em, 1, "ECAL1:1:1")
    after, _ = _channel(detector, em, 2, "ECAL1:1:1")
    for parity in (0, 1):
        jump = np.median(after[:, parity:6:2]) - np.median(before[:, parity:6:2])
        assert jump == pytest.approx(5.0, abs=1.0)


def test_a_gain_drop_shows_in_the_led_pulses(detector, make_emulator):
    em = make_emulator(**SHORT, **{"faults.gain_channel": "ECAL1:2:3",
                                   "faults.gain_drop_fraction": 0.05})
    ratios = []
    for spill in (1, 2):
        s, events = _channel(detector, em, spill, "ECAL1:2:3")
        ratios.append(np.mean(_pulse(s)[events["trigger"] == TriggerKind.LED]))
    # LED: 1 % flash-to-flash, about 40 flashes per spill: the mean to 0.2 %
    assert ratios[1] / ratios[0] == pytest.approx(0.95, abs=0.008)


def test_beam_off_leaves_random_and_led_triggers_without_pileup(make_emulator):
    em = make_emulator(**SHORT, **{"faults.beam_off": True})
    plan = em.spill_plan(2)
    kinds = set(plan.triggers.tolist())
    assert kinds == {TriggerKind.RANDOM, TriggerKind.LED}
    assert set(em.spill_plan(1).triggers.tolist()) >= {TriggerKind.PHYSICS,
                                                       TriggerKind.CALIBRATION}
    truth = np.concatenate([b.truth["n_pileup"] for b in em.batches(plan)])
    assert truth.sum() == 0


def test_a_crate_that_stops_sends_control_frames_only(detector, make_emulator):
    em = make_emulator(**SHORT, **{"faults.stop_source": 3, "run.spills": 3})
    kinds: dict[tuple[int, int], list] = {}
    for _t, sid, parts in em.frames():
        f = decode(parts)
        kinds.setdefault((sid, f.spill), []).append(f.kind)
    assert FrameKind.EVENTS in kinds[(3, 1)]
    for spill in (2, 3):
        assert FrameKind.EVENTS not in kinds[(3, spill)]
        assert FrameKind.EOS in kinds[(3, spill)] and FrameKind.EVENTS in kinds[(2, spill)]


def test_a_fault_on_an_unknown_channel_is_refused(make_emulator):
    with pytest.raises(ConfigError, match="no channel 'ECAL9:9:9'"):
        make_emulator(**{"faults.dead_channel": "ECAL9:9:9"})
