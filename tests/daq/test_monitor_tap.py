"""The monitor tap's histogram filling, against numpy's own 2-D histogram."""

import numpy as np

from daq.monitor_tap import E_BINS, fill_energy_plane, in_energy_plane


def test_energy_plane_matches_numpy_histogram2d_and_leaves_out_nan_and_overflow():
    rng = np.random.default_rng(5)
    e_ecal = rng.uniform(-20, 180, 5000)
    e_hcal = rng.uniform(-20, 180, 5000)
    e_ecal[:10] = np.nan
    e_hcal[10:20] = np.inf
    hist = np.zeros((len(E_BINS) - 1,) * 2, np.int64)
    fill_energy_plane(hist, e_ecal, e_hcal)
    fill_energy_plane(hist, e_ecal, e_hcal)  # filling adds up
    finite = np.isfinite(e_ecal) & np.isfinite(e_hcal)
    ref, _, _ = np.histogram2d(e_ecal[finite], e_hcal[finite], bins=(E_BINS, E_BINS))
    # numpy closes the last bin on the right: an event at exactly 150 GeV is the only difference
    assert np.array_equal(hist, 2 * ref.astype(np.int64))


def test_the_plane_shows_complete_beam_triggers_only():
    from daq.built_batch import BUILT_DTYPE
    from daq.wire_format import TriggerKind

    events = np.zeros(6, BUILT_DTYPE)
    events["trigger"] = [TriggerKind.PHYSICS, TriggerKind.CALIBRATION, TriggerKind.RANDOM,
                         TriggerKind.LED, TriggerKind.PHYSICS, TriggerKind.CALIBRATION]
    events["complete"] = [1, 1, 1, 1, 0, 0]  # the last two: a crate missing
    assert in_energy_plane(events).tolist() == [True, True, False, False, False, False]
