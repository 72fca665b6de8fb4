"""What the calibration scripts assume where the conditions database says nothing; one place,
listed by ``na64daq config --calib``."""

from __future__ import annotations

from dataclasses import dataclass

from daq.conditions import PMT_RATED_MAX_V
from daq.core.config_schema import ConfigError, param, section


@dataclass(frozen=True)
class HvSection:
    min_v: float = param(500.0, "lowest set point of a channel without limits in the database",
                         unit="V", low=0.0, low_inclusive=False, high=PMT_RATED_MAX_V)
    max_v: float = param(1500.0, "highest set point of a channel without limits in the "
                         "database (at most the PMTs' rated maximum)", unit="V", low=0.0,
                         low_inclusive=False, high=PMT_RATED_MAX_V)
    max_step_v: float = param(50.0, "largest change of a set point in one iteration", unit="V",
                              low=0.1, high=PMT_RATED_MAX_V)
    large_step: str = param("split", "a larger step is cut to the maximum (the next iteration "
                            "goes on) or refused", choices=("split", "refuse"))

    def check(self) -> None:
        if not self.min_v < self.max_v:
            raise ConfigError(f"hv.min_v = {self.min_v:g} must be below hv.max_v = "
                              f"{self.max_v:g}")


@dataclass(frozen=True)
class LedSection:
    detectors: str = param("ECAL,HCAL", "detectors whose PMTs the LED system lights "
                           "(comma-separated)")
    min_events: int = param(10, "fewest clean LED pulses for a channel's reference amplitude",
                            low=1, high=1_000_000)


@dataclass(frozen=True)
class EcalSection:
    beam_energy_gev: float = param(100.0, "energy of the calibration run's electrons",
                                   unit="GeV", low=1.0, high=400.0)
    central_share: float = param(0.684, "fraction of a centred shower in the cell hit",
                                 low=0.1, high=1.0)
    preshower_fraction: float = param(
        0.05, "mean fraction of an electron's energy in the preshower: the split's starting "
        "point, refined by the fit of the sum", low=0.0, low_inclusive=False, high=0.5)
    min_events: int = param(200, "fewest electrons centred on a cell for its peak fit", low=10,
                            high=10_000_000)
    scale_x: int = param(3, "column of the cell the physics beam is aimed at: the energy "
                         "scale is set with the showers centred on it", low=0, high=63)
    scale_y: int = param(3, "row of that cell", low=0, high=63)


@dataclass(frozen=True)
class HcalSection:
    mip_peak_gev: float = param(
        2.317, "peak of the energy a muon leaves in one HCAL module, as calib/peak_fit.py finds "
        "it in the simulated spectrum (the emulator's Gamma of mean 2.5 GeV and shape 8, whose "
        "mode is 2.19 GeV: the estimator, not the mode, is what the data are compared with)",
        unit="GeV", low=0.01, high=100.0)
    mip_min_fraction: float = param(0.4, "a tagging module's hottest cell has at least this "
                                    "fraction of mip_peak_gev", low=0.0, high=10.0)
    mip_max_fraction: float = param(2.5, "and at most this fraction", low=0.0, high=100.0)
    quiet_fraction: float = param(0.3, "every other cell of the muon's modules stays below "
                                  "this fraction of mip_peak_gev", low=0.0, high=10.0)
    min_events: int = param(200, "fewest tagged muons through a cell for its peak fit", low=10,
                            high=10_000_000)


@dataclass(frozen=True)
class TemplatesSection:
    min_amplitude_adc: float = param(
        100.0, "smallest clean pulse a channel's template is measured with (noise 1.5 ADC per "
        "sample: 1.5 % of it)", unit="ADC", low=10.0, high=4095.0)
    min_pulses: int = param(300, "fewest clean pulses for a channel's template: with fewer, "
                            "the channel keeps the analytic one", low=20, high=10_000_000)
    iterations: int = param(3, "times the pulses are fitted again with the template just "
                            "measured and the template measured again", low=1, high=10)
    start_fraction: float = param(0.01, "a template starts where its rise passes this "
                                  "fraction of its peak", low=0.0, low_inclusive=False,
                                  high=0.2)
    tail_fraction: float = param(0.003, "and ends where its tail falls below this fraction "
                                 "for good (or where the samples end)", low=0.0,
                                 low_inclusive=False, high=0.2)
    max_events: int = param(50_000, "calibration and LED events read from a run at most "
                            "(memory: 8 kB of samples each)", low=100, high=10_000_000)


@dataclass(frozen=True)
class CalibConfig:
    hv: HvSection = section(HvSection, "PMT high voltages")
    led: LedSection = section(LedSection, "LED (reference) amplitudes")
    ecal: EcalSection = section(EcalSection, "ECAL calibration with electrons")
    hcal: HcalSection = section(HcalSection, "HCAL calibration with muons")
    templates: TemplatesSection = section(TemplatesSection, "pulse templates measured from "
                                          "calibration electrons and LED flashes")
