"""Hand-made batches whose every monitor histogram entry is known (the monitor's and the tap's
tests)."""

import numpy as np

from daq.core import records as er
from daq.core.built_batch import BUILT_DTYPE
from daq.core.wire_format import TriggerKind

#: (trigger, complete, E_ECAL GeV, E_HCAL modules 1..4 GeV, class): one row per event
KNOWN_EVENTS = [
    (TriggerKind.PHYSICS, 1, 10.5, (2.5, 1.0, 0.0, 0.0), er.DIMUON),        # plane (10, 3)
    (TriggerKind.PHYSICS, 1, 80.2, (10.1, 9.0, 0.5, 0.0), er.REGION_II),    # plane (80, 19)
    (TriggerKind.CALIBRATION, 1, 99.5, (0.2, 0.0, 0.0, 0.0), er.OTHER),     # plane (99, 0)
    (TriggerKind.PHYSICS, 1, 30.0, (0.5, 0.0, 0.0, 0.0), er.SIGNAL_BOX),    # box: blinded
    (TriggerKind.PHYSICS, 1, 20.5, (0.2, 0.0, 0.0, 0.0), er.PILEUP),        # in the box's bins
    (TriggerKind.PHYSICS, 0, 60.5, (1.5, 0.0, 0.0, 0.0), er.OTHER),         # incomplete
    (TriggerKind.RANDOM, 1, 0.1, (0.0, 0.0, 0.0, 0.0), er.OTHER),           # not a beam trigger
    (TriggerKind.PHYSICS, 1, 170.0, (0.0, 0.0, 0.0, 0.0), er.OTHER),        # overflow
]


def known_batch(detector, repeat: int = 1):
    """The known events, ``repeat`` times: (events, reco, channels)."""
    rows = KNOWN_EVENTS * repeat
    n = len(rows)
    events = np.zeros(n, BUILT_DTYPE)
    reco = np.zeros(n, er.RECO_DTYPE)
    events["trigger"] = [r[0] for r in rows]
    events["complete"] = [r[1] for r in rows]
    events["missing"] = [0 if r[1] else 1 for r in rows]  # the incomplete: source bit 0 out
    events["event"] = np.arange(n)
    events["trigger_time_ns"] = 1.25e9  # drift bin 2 of 0.5 s
    reco["e_ecal_gev"] = [r[2] for r in rows]
    reco["e_hcal_gev"] = [r[3] for r in rows]
    reco["event_class"] = [r[4] for r in rows]
    reco["gain_drift_correction"] = 1.0
    reco["srd_tag"] = [1 if r[0] == TriggerKind.PHYSICS else 0 for r in rows]
    reco["muon_tag"] = [1 if r[4] == er.DIMUON else 0 for r in rows]
    box = reco["event_class"] == er.SIGNAL_BOX
    reco["flags"][box] |= er.EV_BLINDED
    channels = np.zeros((n, detector.n_channels), er.CHANNEL_DTYPE)
    channels["amplitude_adc"] = np.nan
    channels["time_ns"] = np.nan
    channels["amplitude_adc"][:, 0] = 100.0  # channel 0 has an in-time pulse in every event
    channels["time_ns"][:, 0] = 40.0
    return events, reco, channels
