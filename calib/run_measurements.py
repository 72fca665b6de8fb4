"""What the calibration scripts measure in a run file (``docs/file-format.md``): reference (LED)
amplitudes per channel, and the in-time amplitudes of calibration-triggered events, read from the
reconstruction's per-channel table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.pulse import flags as pf
from daq.run_file import layout as L
from daq.run_file.reader import RunReader

#: Pulse flags that make an amplitude unusable for a calibration (a cell without a pulse has
#: its amplitude at the expected time: a small number, not a missing one).
UNUSABLE = pf.SATURATED | pf.BAD_CHANNEL | pf.MISSING | pf.FIT_FAILED


@dataclass
class ReferenceAmplitudes:
    """Median clean LED pulse per channel (None: fewer clean pulses than asked for)."""

    run: int
    amplitude_adc: dict[str, float | None]
    n_pulses: dict[str, int]
    n_events: int
    hv_v: dict[str, float] = field(default_factory=dict)  # set points the file recorded


def usable_amplitudes(channels: np.ndarray) -> np.ndarray:
    """The in-time amplitudes of a ``/reco/channels`` table (CHANNEL_DTYPE), float32, NaN where
    the pulse is unusable for a calibration."""
    amp = channels["amplitude_adc"].astype(np.float32)
    amp[(channels["flags"] & UNUSABLE) != 0] = np.nan
    return amp


def read_amplitudes(run: RunReader, channels: np.ndarray, trigger: TriggerKind,
                    quiet: bool = False) -> np.ndarray:
    """Amplitudes of ``channels`` in every complete event of one trigger kind: (events,
    channels), NaN where the pulse is unusable. A progress bar on a terminal unless
    ``quiet``."""
    parts = [np.zeros((0, len(channels)), np.float32)]
    with tqdm(total=run.n_events, desc=f"reading {Path(run.path).name}", unit="ev",
              unit_scale=True, leave=False, disable=quiet or None) as bar:
        for chunk in run.chunks((L.EVENTS, L.CHANNELS)):
            ev = chunk[L.EVENTS]
            sel = (ev["trigger"] == trigger) & (ev["complete"] == 1)
            parts.append(usable_amplitudes(chunk[L.CHANNELS][sel][:, channels]))
            bar.update(len(ev))
    return np.concatenate(parts)


def read_reference_amplitudes(run: RunReader, detector: Detector, lit: list[str],
                              min_pulses: int, quiet: bool = False) -> ReferenceAmplitudes:
    """The LED amplitude of every channel of the ``lit`` detectors: the median of its clean
    pulses (robust against a beam particle piled up on the flash)."""
    idx = np.concatenate([detector.select(d) for d in lit])
    amp = read_amplitudes(run, idx, TriggerKind.LED, quiet)
    n = np.isfinite(amp).sum(0)
    with np.errstate(all="ignore"):
        median = np.nanmedian(amp, 0) if len(amp) else np.full(len(idx), np.nan)
    names = [detector.channels[i].name for i in idx]
    recorded = run.provenance_json("hv_set_points", missing_ok=True)
    hv = {k: v for k, v in (recorded or {}).get("values", {}).items() if v is not None}
    return ReferenceAmplitudes(
        run.run, {name: (float(m) if k >= min_pulses else None)
                  for name, m, k in zip(names, median, n, strict=True)},
        {name: int(k) for name, k in zip(names, n, strict=True)}, len(amp), hv)


def recorded_gains(run: RunReader, detector: Detector) -> np.ndarray:
    """ADC/GeV per channel that the run was reconstructed with (its provenance)."""
    try:
        constants = CalibrationConstants.from_dict(run.provenance_json("calibration"),
                                                   detector.n_channels)
    except ValueError as exc:
        raise L.RunFileError(f"{run.path}: {exc}") from None
    return 1.0 / constants.gev_per_adc
