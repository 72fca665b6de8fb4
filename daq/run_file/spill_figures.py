"""What a spill's row in the run file says beyond its ledger: electrons on target estimated from
the data, and the gain drift the reconstruction corrected."""

from __future__ import annotations

from typing import Any

import numpy as np

from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from daq.run_file.layout import SPILL_DTYPE

#: The pulse finder also finds a counter pulse that peaked up to this long before the window,
#: on its falling tail, and misses the second of two closer than COUNTER_DEAD_NS: both measured
#: on emulated random triggers at 0.5e6-12e6 e-/spill (``bench/eot_estimate.py``), where they
#: made the plain count per window 18 % to 9 % high.
COUNTER_EARLY_NS = 67.0
COUNTER_DEAD_NS = 25.0


class SpillFigures:
    """Accumulates one spill's events; :meth:`row` closes it.

    Electrons on target: a random trigger samples the beam without bias, so the mean number of
    pulses in the first beam counter per random-trigger window, divided by the length in which
    a pulse is found (the window and COUNTER_EARLY_NS before it) and corrected for the pulses
    the finder does not resolve (a dead time of COUNTER_DEAD_NS), is the beam rate; times the
    spill length it is the spill's EOT. NA64 counts EOT with scalers; this estimate needs
    nothing but the recorded data.
    """

    def __init__(self, detector: Detector):
        counters = detector.beam_counters
        self.counter = int(counters[1] if len(counters) > 1 else counters[0])  # S1
        self.window_ns = detector.window_ns
        self._reset()

    def _reset(self) -> None:
        self.n_random = 0
        self.pulses = 0
        self.t_min = np.inf
        self.t_max = -np.inf
        self.n_events = 0
        self.drift_first = np.nan
        self.drift_last = np.nan

    def add(self, events: np.ndarray, reco: np.ndarray | None,
            channels: np.ndarray | None) -> None:
        if not len(events):
            return
        t = events["trigger_time_ns"]
        self.t_min = min(self.t_min, float(t.min()))
        self.t_max = max(self.t_max, float(t.max()))
        self.n_events += len(events)
        if channels is not None:
            random = events["trigger"] == TriggerKind.RANDOM
            self.n_random += int(random.sum())
            self.pulses += int(channels["n_pulses"][random, self.counter].sum())
        if reco is not None:
            if np.isnan(self.drift_first):
                self.drift_first = float(reco["gain_drift_correction"][0])
            self.drift_last = float(reco["gain_drift_correction"][-1])

    def electrons_on_target(self, start_ns: int = 0, end_ns: int = 0) -> tuple[float, float]:
        """The spill's EOT so far and its error (0, 0 without random triggers); the length is
        ``end_ns - start_ns`` when known, else estimated from the span of the trigger times."""
        if not (self.n_random and self.n_events > 1 and self.pulses):
            return 0.0, 0.0
        n = self.n_events  # uniform triggers: the span of n of them is length (n-1)/(n+1)
        length_ns = (end_ns - start_ns if end_ns > start_ns else
                     (self.t_max - self.t_min) * (n + 1) / (n - 1))
        seen_per_ns = self.pulses / self.n_random / (self.window_ns + COUNTER_EARLY_NS)
        rate_per_ns = seen_per_ns / max(1.0 - seen_per_ns * COUNTER_DEAD_NS, 0.1)
        eot = rate_per_ns * length_ns
        return eot, eot / np.sqrt(self.pulses)

    def row(self, ledger: dict[str, Any], start_ns: int = 0, end_ns: int = 0) -> np.ndarray:
        """The spill's ``/spills`` row, and a fresh start for the next spill. The spill's
        length is ``end_ns - start_ns`` (the crates' SOS and EOS times) when known, else
        estimated from the span of its trigger times."""
        rec = np.zeros(1, SPILL_DTYPE)
        rec["start_ns"], rec["end_ns"] = start_ns, end_ns
        for name in ("spill", "triggered", "written_complete", "written_incomplete",
                     "rejected", "dropped_by_policy", "unaccounted", "balanced"):
            rec[name] = int(ledger.get(name, 0))
        rec["eot_estimate"], rec["eot_error"] = self.electrons_on_target(start_ns, end_ns)
        rec["gain_drift_first"] = self.drift_first
        rec["gain_drift_last"] = self.drift_last
        self._reset()
        return rec
