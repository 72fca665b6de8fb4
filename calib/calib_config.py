"""What the calibration scripts assume where the conditions database says nothing; one place,
listed by ``na64daq config --calib``."""

from __future__ import annotations

from dataclasses import dataclass

from daq.config import param, section


@dataclass(frozen=True)
class HvSection:
    min_v: float = param(500.0, "lowest set point of a channel without limits in the database",
                         unit="V", low=0.0, high=5000.0)
    max_v: float = param(1500.0, "highest set point of a channel without limits in the "
                         "database", unit="V", low=0.0, high=5000.0)
    max_step_v: float = param(50.0, "largest change of a set point in one iteration", unit="V",
                              low=0.1, high=5000.0)
    large_step: str = param("split", "a larger step is cut to the maximum (the next iteration "
                            "goes on) or refused", choices=("split", "refuse"))


@dataclass(frozen=True)
class CalibConfig:
    hv: HvSection = section(HvSection, "PMT high voltages")
