"""The emulator's runs written as DATE files and read back: the same samples, spills and
events (``docs/raw-format.md``)."""

import numpy as np
import pytest

from daq.raw import date_format as F
from daq.raw.channel_map import EMULATED_MAP, ChannelMap, emulated_map_text
from daq.raw.date_decoder import DateReader
from daq.raw.digit_assembly import Assembly, assemble
from emulator.date_export import write_date

pytestmark = pytest.mark.timeout(300)


def _read(path, detector):
    cmap = ChannelMap.load(EMULATED_MAP, detector)
    state = Assembly()
    reader = DateReader(path)
    parts = [assemble(d, cmap, state) for d in reader]
    events = np.concatenate([p[0] for p in parts])
    samples = np.concatenate([p[1] for p in parts])
    return events, samples, state, reader.report


@pytest.mark.parametrize("header", [F.OLD, F.V306, F.V314])
def test_an_emulated_run_comes_back_with_the_same_samples_spills_and_events(
        tmp_path, make_emulator, detector, header):
    em = make_emulator(**{"spill.duration_s": 0.1, "trigger.physics_rate_hz": 2000.0,
                          "trigger.random_rate_hz": 300.0, "trigger.calibration_rate_hz": 300.0})
    path = tmp_path / "cdr01001-000007.dat"
    written = write_date(em, path, [1, 2], header)
    events, samples, state, report = _read(path, detector)
    truth_ev, truth_s = [], []
    for spill in (1, 2):
        for b in em.batches(em.spill_plan(spill)):
            truth_ev.append(b.built_events())
            truth_s.append(b.samples_in_map_order(detector))
    truth_ev, truth_s = np.concatenate(truth_ev), np.concatenate(truth_s)
    assert written == len(truth_ev) == len(events) > 100
    assert np.array_equal(samples, truth_s)
    for name in ("spill", "event", "complete", "missing"):
        assert np.array_equal(events[name], truth_ev[name]), name
    kinds = set(truth_ev["trigger"].tolist())
    assert {1, 2, 3} <= kinds  # physics, calibration and random all made the trip
    if header == F.OLD:  # no trigger mask: the event type tells calibration apart
        assert np.array_equal(events["trigger"] == 2, truth_ev["trigger"] == 2)
    else:
        assert np.array_equal(events["trigger"], truth_ev["trigger"])
    # DATE keeps the time to the microsecond (DATE 3.06: to the second)
    resolution_ns = 1e9 if header == F.V306 else 1000
    assert np.abs(events["trigger_time_ns"].astype(np.int64)
                  - truth_ev["trigger_time_ns"].astype(np.int64)).max() < resolution_ns
    assert report.counts == {} and not state.unknown_digits
    assert state.sample_count_mismatch == 0


def test_the_shipped_map_places_every_channel_once_by_the_documented_rule(detector):
    assert EMULATED_MAP.read_text() == emulated_map_text(detector)  # regenerated with the map
    cmap = ChannelMap.load(EMULATED_MAP, detector)
    assert sorted(cmap.entries.values()) == list(range(detector.n_channels))
    for (src, port, chip, ch), index in cmap.entries.items():
        c = detector.channels[index]
        assert (src, 4 * port + chip, ch) == (c.source, c.port, c.channel)
