"""What the panels derive from a snapshot, against hand computations."""

import numpy as np

from monitor import snapshot as proto
from monitor.quantities import channel_means, spill_series


def _snapshot(rows, reference, arrays=()):
    parts = proto.encode({"seq": 1, "spills": rows, "reference": reference}, list(arrays))
    return proto.decode([bytes(p) for p in parts])


def test_spill_series_per_eot_prescale_and_accidentals():
    rows = [{"spill": 1, "taken": 1100, "tags": [1000, 550, 110, 5], "eot": 2.0e6,
             "classes": {"other": 600, "dimuon (I)": 4, "incomplete": 6},
             "ledger": {"triggered": 1200, "written_complete": 1190,
                        "written_incomplete": 6, "rejected": 4, "dropped_by_policy": 0}}]
    s = spill_series(_snapshot(rows, {"physics_prescale": 16.0}))
    assert s["dimuons"][0] == 5  # muon tags, not the class (pileup takes precedence there)
    assert np.isclose(s["dimuons_per_1e9_eot"][0], 5 * 16 * 1e9 / 2.0e6)
    assert np.isclose(s["srd_fraction"][0], 0.55)
    assert np.isclose(s["srd_accidental_fraction"][0], 0.11 * 3.0 / 120.0)  # +-1.5 ns of 120
    assert s["written"][0] == 1196 and s["incomplete"][0] == 6
    assert np.isclose(s["fraction other"][0], 600 / 604)


def test_channel_means_from_sums():
    n = 3
    arrays = [("channel_events", "run", np.array([10.0, 0.0, 4.0])),
              ("channel_hits", "run", np.array([5.0, 0.0, 4.0])),
              ("channel_energy_sum", "run", np.array([2.5, 0.0, 8.0])),
              ("channel_time_sum", "run", np.array([500.0, 0.0, 400.0])),
              ("channel_pedestal", "run", np.array([[2.0, 400.0], [0, 0], [1.0, 210.0]])),
              ("channel_led", "run", np.zeros((n, 2)))]
    m = channel_means(_snapshot([], {}, arrays))
    assert m["occupancy"].tolist()[0::2] == [0.5, 1.0] and np.isnan(m["occupancy"][1])
    assert m["mean_energy"].tolist()[0::2] == [0.5, 2.0]
    assert m["mean_time"].tolist()[0::2] == [100.0, 100.0]
    assert m["pedestal"].tolist()[0::2] == [200.0, 210.0]
