"""The histogram set's filling: known events land in known bins, the box stays blind."""

from pathlib import Path

import numpy as np
from known_events import KNOWN_EVENTS, known_batch

from daq.core import records as er
from daq.core.config_schema import load
from daq.reco.blinding import blind
from daq.reco.reco_config import RecoConfig
from monitor.histograms import CLASS_BINS, INCOMPLETE


def test_known_events_fill_their_bins(detector, filler):
    events, reco, channels = known_batch(detector, repeat=3)
    h = filler.new_set()
    filler.fill(h, *blind(events, reco, channels, True)[:3])
    plane = h["energy_plane"]
    expected = {(10, 3): 3, (80, 19): 3, (99, 0): 3}
    assert plane.sum() == sum(expected.values())
    for (i, j), n in expected.items():
        assert plane[i, j] == n
    assert plane[20, 0] == 0  # a pileup event in the box's bins is masked while blinded
    assert h["calibration_energy"][int(99.7 / 0.5)] == 3  # E_ECAL + E_HCAL = 99.7 GeV
    assert np.allclose(h["calibration_drift"][2], [3, 3 * 0.997, 3 * 0.997, 3 * 0.997**2],
                       rtol=1e-6)
    classes = dict(zip(CLASS_BINS, h["classes"], strict=True))
    assert classes["signal box"] == 0 and classes["incomplete"] == 3
    assert classes["dimuon (I)"] == 3 and classes["pileup (III)"] == 3
    assert h["triggers"].tolist() == [15, 3, 3, 0]  # the box's 3 never arrive
    # complete physics triggers (4 each, the box's left out), SRD, side band, muon tags
    assert h["physics_tags"].tolist() == [12, 12, 0, 3]
    # channel 0 is read by source bit 0, missing in the incomplete events
    assert h["channel_events"][0] == 3 * (len(KNOWN_EVENTS) - 2)
    assert h["channel_hits"][0] == h["channel_events"][0]
    assert np.isclose(h["channel_energy_sum"][0], 1.0 * h["channel_hits"][0])
    assert h["channel_hits"][1:].sum() == 0


def test_the_event_sample_keeps_the_latest_events_of_each_bin(detector, filler):
    """Bin to events: the plane's bins and the classes keep their latest identifiers; the
    box's bins keep none while blinded."""
    from monitor.histograms import EVENT_SAMPLE_PER_BIN, EventSample

    events, reco, channels = known_batch(detector, repeat=3)
    events["event"] = np.arange(1, len(events) + 1)
    events["spill"] = 5
    ids = EventSample()
    for _ in range(2):  # 6 events per bin: the ring keeps the latest 4 (all the same ids)
        e, r, _c, _k = blind(events, reco, channels, True)
        filler.sample(ids, e, r)
    plane, classes = (a for _name, a in ids.arrays())
    by_bin: dict[tuple[int, int], set] = {}
    for i, j, spill, event in plane:
        assert spill == 5
        by_bin.setdefault((int(i), int(j)), set()).add(int(event))
    assert set(by_bin) == {(10, 3), (80, 19), (99, 0)}  # (20, 0), pileup, is a box bin
    for (i, _j), evs in by_bin.items():
        assert len(evs) == 3  # the bin's three events, each still held
        assert all(int(reco["e_ecal_gev"][n - 1]) == i for n in evs)
    assert len(plane) == 3 * EVENT_SAMPLE_PER_BIN
    dimuons = {int(e) for c, _s, e in classes if c == er.DIMUON}
    assert len(dimuons) == 3 and all(reco["event_class"][n - 1] == er.DIMUON for n in dimuons)
    assert not (classes[:, 0] == er.SIGNAL_BOX).any()


def test_unblinded_the_box_is_filled(detector):
    from monitor.histograms import HistogramFiller

    filler = HistogramFiller(detector, np.full(detector.n_channels, 0.01),
                             load(RecoConfig, None, {"classes.blinded": False}))
    events, reco, channels = known_batch(detector)
    h = filler.new_set()
    filler.fill(h, *blind(events, reco, channels, False)[:3])
    assert h["energy_plane"][30, 0] == 1 and h["energy_plane"][20, 0] == 1
    assert h["classes"][er.SIGNAL_BOX] == 1


def test_blind_removes_the_box_rows_and_keeps_the_others(detector):
    events, reco, channels = known_batch(detector)
    e, r, c, kept = blind(events, reco, channels, True)
    assert len(e) == len(r) == len(c) == len(KNOWN_EVENTS) - 1
    assert (r["event_class"] != er.SIGNAL_BOX).all()
    assert kept.tolist() == [0, 1, 2, 4, 5, 6, 7]


def test_filling_adds_up_and_nan_energies_are_left_out(detector, filler):
    events, reco, channels = known_batch(detector)
    reco["e_ecal_gev"][0] = np.nan
    h = filler.new_set()
    for _ in range(2):
        filler.fill(h, *blind(events, reco, channels, True)[:3])
    assert h["energy_plane"].sum() == 2 * 2
    assert h["classes"].sum() == 2 * (len(KNOWN_EVENTS) - 1)
    assert h["classes"][INCOMPLETE] == 2


def test_after_warm_up_no_batch_needs_a_new_compilation():
    """The tap warms up before its first heartbeat: batches of one event, of many, and
    blinded subsets (copies) must not compile anything new mid-run."""
    from conftest import compiled_after_warm_up

    tests = str(Path(__file__).parents[1])
    new = compiled_after_warm_up(["monitor.histograms"], f"""
        import numpy as np
        from daq.core.detector import Detector
        from daq.reco.blinding import blind
        from daq.reco.reco_config import RecoConfig
        from monitor.histograms import HistogramFiller
        import sys; sys.path.insert(0, {tests!r})
        from known_events import known_batch
        d = Detector.load()
        f = HistogramFiller(d, np.full(d.n_channels, 0.01), RecoConfig())
        f.warm_up()
        """, """
        for n in (1, 3):
            e, r, c = known_batch(d, n)
            h = f.new_set()
            f.fill(h, *blind(e, r, c, True)[:3])
            f.fill(h, e[:1], r[:1], c[:1])
        """)
    assert new == []
