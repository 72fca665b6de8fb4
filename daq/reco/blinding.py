"""The blinding rule: while a run is blinded, no event of the signal box leaves the
reconstruction for anything a person looks at (the monitor's histograms and waveforms)."""

from __future__ import annotations

import numpy as np

from daq.core import records as er


def blind(events: np.ndarray, reco: np.ndarray, channels: np.ndarray | None,
          blinded: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The rows the monitor may see: without the signal box's events while ``blinded``.
    Also returns the kept rows' indices (to match sampled waveforms)."""
    if not blinded:
        return events, reco, channels, np.arange(len(events))
    keep = np.flatnonzero(reco["event_class"] != er.SIGNAL_BOX)
    if len(keep) == len(events):
        return events, reco, channels, keep
    return events[keep], reco[keep], (channels[keep] if channels is not None else None), keep
