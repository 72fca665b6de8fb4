"""What an emulated run holds, in a few lines a shift crew can read."""

from __future__ import annotations

import numpy as np

from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from emulator.config import CLASS_NAMES, ELECTRON
from emulator.frames_file import EmulatedRun


def summarize(run: EmulatedRun, detector: Detector, elapsed_s: float | None = None) -> str:
    ev, tr = run.events, run.truth
    n = len(ev)
    lines = [f"{run.path}: run {run.run}, {len(run.spills)} spill(s), {n} events, "
             f"{len(run.samples)} sources, {detector.n_channels} channels x "
             f"{detector.samples_per_channel} samples"]
    if elapsed_s:
        lines[0] += f"; emulated and written in {elapsed_s:.2f} s ({n / elapsed_s:,.0f} events/s)"
    trig = ev["trigger"]
    cls = tr.get("class")
    for kind in TriggerKind:
        sel = trig == kind
        line = f"  {kind.name.lower():<12}{int(sel.sum()):8d} events"
        if cls is not None and kind in (TriggerKind.PHYSICS, TriggerKind.CALIBRATION) and sel.any():
            counts = np.bincount(cls[sel].astype(np.int64), minlength=len(CLASS_NAMES))
            line += ": " + ", ".join(f"{CLASS_NAMES[c]} {counts[c]}" for c in range(len(counts))
                                     if counts[c])
        lines.append(line)
    if "n_pileup_window" in tr:
        frac = float(np.mean(tr["n_pileup_window"] > 0)) if n else 0.0
        intensity = run.config["beam"]["intensity_per_spill"]
        lines.append(f"  pileup: {100 * frac:.1f} % of events have another beam particle in "
                     f"the readout window ({intensity:.3g} e-/spill)")
    if cls is not None and "e_ecal_gev" in tr:
        sel = (trig == TriggerKind.CALIBRATION) & (cls == ELECTRON)
        if sel.sum() > 1:
            e = tr["e_ecal_gev"][sel]
            lines.append(f"  calibration-trigger electrons: true E_ECAL {e.mean():.1f} GeV, "
                         f"sigma {e.std():.2f} GeV ({sel.sum()} events)")
    size = sum(s.nbytes for s in run.samples.values())
    lines.append(f"  raw samples: {size / 1e6:.1f} MB")
    return "\n".join(lines)
