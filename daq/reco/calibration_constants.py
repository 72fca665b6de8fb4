"""The constants the reconstruction needs per channel: the detector's design gains, or the
calibration in force from the conditions database."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from daq.core.detector import Detector
from daq.reco.channel_templates import ChannelTemplate


@dataclass
class CalibrationConstants:
    gev_per_adc: np.ndarray  # per channel, GeV per ADC count of pulse amplitude
    time_offset_ns: np.ndarray  # per channel, in-time peak relative to the nominal one
    pedestal_adc: np.ndarray  # per channel (even, odd); NaN: learnt from the data
    reference_correction: np.ndarray  # per channel, this spill's LED/reference factor
    tag: str = "nominal"
    #: channel index -> its learnt pulse template; the others use the analytic one
    pulse_templates: dict[int, ChannelTemplate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # float64 and contiguous whatever the origin (configuration, database, file): the
        # kernels are compiled once, at warm-up, for these types
        for name in ("gev_per_adc", "time_offset_ns", "pedestal_adc", "reference_correction"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), np.float64))

    def gev_per_adc_in_force(self) -> np.ndarray:
        """Per channel, float32: the gain times this spill's reference correction."""
        return (self.gev_per_adc * self.reference_correction).astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-able, for a run file's provenance."""
        return {"tag": self.tag, "gev_per_adc": self.gev_per_adc.tolist(),
                "time_offset_ns": self.time_offset_ns.tolist(),
                "pedestal_adc": [[None if np.isnan(v) else float(v) for v in p]
                                 for p in self.pedestal_adc],
                "reference_correction": self.reference_correction.tolist(),
                # only when there are some: the constants of older runs keep their digest
                **({"pulse_templates": {str(c): t.to_dict() for c, t in
                                        sorted(self.pulse_templates.items())}}
                   if self.pulse_templates else {})}

    @classmethod
    def from_dict(cls, values: dict, n_channels: int) -> CalibrationConstants:
        """The inverse of :meth:`to_dict` (a run file's provenance, a constants file); a value
        of the wrong length or type is a ``ValueError`` naming it."""
        arrays = {}
        for name, shape in (("gev_per_adc", (n_channels,)), ("time_offset_ns", (n_channels,)),
                            ("pedestal_adc", (n_channels, 2)),
                            ("reference_correction", (n_channels,))):
            try:
                a = np.array(values[name], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"calibration constants: {name} missing or not numbers") \
                    from None
            if a.shape != shape:
                raise ValueError(f"calibration constants: {name} has shape {a.shape}, the "
                                 f"detector map needs {shape}")
            arrays[name] = a
        templates = values.get("pulse_templates") or {}
        if not isinstance(templates, dict):
            raise ValueError("calibration constants: pulse_templates is not a table")
        learnt = {}
        for key, t in templates.items():
            if not (isinstance(key, str) and key.isdigit() and int(key) < n_channels):
                raise ValueError(f"calibration constants: pulse template of channel {key!r}, "
                                 f"not one of the map's {n_channels}")
            learnt[int(key)] = ChannelTemplate.from_dict(t)
        return cls(**arrays, tag=str(values.get("tag", "unnamed")), pulse_templates=learnt)

    @classmethod
    def nominal(cls, detector: Detector, adc_per_gev: np.ndarray | None = None
                ) -> CalibrationConstants:
        """The design gains of each detector type (or ``adc_per_gev`` per channel): what a
        run starts from before any calibration."""
        if adc_per_gev is None:
            adc_per_gev = detector.nominal_adc_per_gev()
        n = detector.n_channels
        return cls(1.0 / adc_per_gev, np.zeros(n), np.full((n, 2), np.nan), np.ones(n))
