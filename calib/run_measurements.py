"""What the calibration scripts measure in a run file (``docs/file-format.md``): reference (LED)
amplitudes per channel, and the in-time amplitudes of calibration-triggered events, read from the
reconstruction's per-channel table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from daq.detector import Detector
from daq.reco import pulse_fit as pf
from daq.reco.calibration_constants import CalibrationConstants
from daq.run_file import layout as L
from daq.run_file.reader import RunReader
from daq.wire_format import TriggerKind

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


def _progress(reader: RunReader, what: str, quiet: bool):
    return tqdm(total=reader.n_events, desc=what, unit="ev", unit_scale=True, leave=False,
                disable=quiet or None)


def read_amplitudes(path: str | Path, channels: np.ndarray, trigger: TriggerKind,
                         quiet: bool = False) -> tuple[int, np.ndarray]:
    """(run, amplitudes) of ``channels`` in every complete event of one trigger kind: (events,
    channels) float32, NaN where the pulse is unusable."""
    parts = []
    with RunReader(path) as reader, _progress(reader, f"reading {Path(path).name}",
                                              quiet) as bar:
        for chunk in reader.chunks((L.EVENTS, L.CHANNELS)):
            ev, ch = chunk[L.EVENTS], chunk[L.CHANNELS][:, channels]
            sel = (ev["trigger"] == trigger) & (ev["complete"] == 1)
            amp = ch["amplitude_adc"][sel].astype(np.float32)
            amp[(ch["flags"][sel] & UNUSABLE) != 0] = np.nan
            parts.append(amp)
            bar.update(len(ev))
        run = reader.run
    if not parts:
        return run, np.zeros((0, len(channels)), np.float32)
    return run, np.concatenate(parts)


def read_reference_amplitudes(path: str | Path, detector: Detector, lit: list[str],
                              min_pulses: int, quiet: bool = False) -> ReferenceAmplitudes:
    """The LED amplitude of every channel of the ``lit`` detectors: the median of its clean
    pulses (robust against a beam particle piled up on the flash)."""
    idx = np.concatenate([detector.select(d) for d in lit])
    run, amp = read_amplitudes(path, idx, TriggerKind.LED, quiet)
    n = np.isfinite(amp).sum(0)
    with np.errstate(all="ignore"):
        median = np.nanmedian(amp, 0) if len(amp) else np.full(len(idx), np.nan)
    names = [detector.channels[i].name for i in idx]
    with RunReader(path) as reader:
        recorded = reader.provenance_json("hv_set_points", missing_ok=True)
    hv = {k: v for k, v in (recorded or {}).get("values", {}).items() if v is not None}
    return ReferenceAmplitudes(
        run, {name: (float(m) if k >= min_pulses else None)
              for name, m, k in zip(names, median, n, strict=True)},
        {name: int(k) for name, k in zip(names, n, strict=True)}, len(amp), hv)



def recorded_gains(path: str | Path, detector: Detector) -> np.ndarray:
    """ADC/GeV per channel that the run was reconstructed with (its provenance)."""
    with RunReader(path) as reader:
        try:
            constants = CalibrationConstants.from_dict(reader.provenance_json("calibration"),
                                                       detector.n_channels)
        except ValueError as exc:
            raise L.RunFileError(f"{path}: {exc}") from None
    return 1.0 / constants.gev_per_adc
