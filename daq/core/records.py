"""What the reconstruction keeps per event and per channel (the ``reco`` tables of batches and
run files) and the event classes. Units are in the field names."""

from __future__ import annotations

import numpy as np

# event classes (regions of the E_ECAL vs E_HCAL plane, [001] Fig. 2)
OTHER, DIMUON, REGION_II, PILEUP, SIGNAL_BOX = range(5)
CLASS_NAMES = ("other", "dimuon (I)", "E_ECAL+E_HCAL = E_beam (II)", "pileup (III)",
               "signal box")

# event flags (bits)
EV_SATURATED = 1  # a channel saturated (amplitude from its unsaturated samples)
EV_PEDESTAL_FALLBACK = 2  # a channel used the running pedestal
EV_BAD_CHANNEL = 4  # a flat channel (all zero, all full scale, constant) was left out
EV_MISSING = 8  # a source did not deliver (its channels are left out)
EV_FIT_FAILED = 16
EV_PILEUP_OURS = 32  # our rule: an unresolved overlap in a significant cell
EV_PILEUP_NA64 = 64  # the published rule
EV_BLINDED = 128  # energies hidden from the monitor (signal box, blinded)
EVENT_FLAG_NAMES = {EV_SATURATED: "a channel saturated",
                    EV_PEDESTAL_FALLBACK: "a channel used the running pedestal",
                    EV_BAD_CHANNEL: "a flat channel left out", EV_MISSING: "a source missing",
                    EV_FIT_FAILED: "a fit failed", EV_PILEUP_OURS: "pileup (our rule)",
                    EV_PILEUP_NA64: "pileup (NA64's rule)", EV_BLINDED: "blinded"}


def flag_text(flags: int) -> str:
    """An event's flags in words."""
    names = [text for bit, text in EVENT_FLAG_NAMES.items() if flags & bit]
    return "flags: " + (", ".join(names) if names else "none")

RECO_DTYPE = np.dtype([
    ("e_ecal_gev", "<f4"), ("e_preshower_gev", "<f4"), ("e_hcal_gev", "<f4", (4,)),
    ("e_ecal_out_of_time_gev", "<f4"), ("e_hcal_out_of_time_gev", "<f4"),
    ("e_veto_gev", "<f4", (3,)), ("e_srd_gev", "<f4", (3,)),
    ("ecal_x_cells", "<f4"), ("ecal_y_cells", "<f4"), ("ecal_shape_chi2", "<f4"),
    ("gain_drift_correction", "<f4"),
    ("srd_tag", "u1"), ("srd_sideband_tag", "u1"), ("muon_tag", "u1"),
    ("event_class", "u1"), ("flags", "<u2"),
])

#: What the reconstruction keeps per event and channel: the in-time pulse.
CHANNEL_DTYPE = np.dtype([("amplitude_adc", "<f4"), ("time_ns", "<f4"), ("n_pulses", "u1"),
                          ("flags", "u1")])


def spill_runs(spill: np.ndarray) -> list[tuple[int, int]]:
    """The (lo, hi) row ranges of consecutive events of one spill in an event table's
    ``spill`` column."""
    cuts = np.flatnonzero(np.diff(spill.astype(np.int64))) + 1
    edges = [0, *cuts.tolist(), len(spill)]
    return [(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True) if hi > lo]
