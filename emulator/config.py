"""Emulator configuration: beam, physics classes, trigger, detector response and digitizer model.

Numbers marked [model] in ``../shared/reference/detector.md`` are choices of ours; they live here,
never as literals in the kernels. ``na64daq config`` prints this table; docs/emulator.md explains
the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from daq.core.config_schema import ConfigError, param, section, valid_host
from daq.core.detector import NOMINAL_ADC_PER_GEV

if TYPE_CHECKING:
    from daq.core.detector import Detector

#: Truth class codes, in the order of ``CLASS_NAMES`` (new classes are appended: run files
#: keep their codes).
ELECTRON, ELECTRON_LOW, HADRON, ELECTRONUCLEAR, DIMUON, SIGNAL, NOTHING, MUON = range(8)
CLASS_NAMES = ("electron", "electron_low", "hadron", "electronuclear", "dimuon", "signal",
               "nothing", "muon")


@dataclass(frozen=True)
class RunSection:
    number: int = param(1, "run number written into every frame", low=0, high=2**32 - 1)
    seed: int = param(20170902, "random seed; the same seed gives byte-identical frames",
                      low=0, high=2**63 - 1)
    spills: int = param(1, "number of spills to emulate", low=1, high=100000)
    batch_events: int = param(64, "events per frame (one frame per source and batch)",
                              low=1, high=4096)
    start_time_ns: int = param(1_504_310_400_000_000_000,
                               "emulated wall clock at the start of the run (ns since epoch)",
                               unit="ns", low=0, high=2**63 - 1)


@dataclass(frozen=True)
class SpillSection:
    duration_s: float = param(4.8, "spill length (SPS extraction)", unit="s", low=0.01,
                              high=60.0)
    pause_s: float = param(15.0, "time between the end of a spill and the next start", unit="s",
                           low=0.0, high=3600.0)
    time_compressed: bool = param(
        True, "emit as fast as the consumers take instead of at the beam's pace")
    pace: float = param(1.0, "speed-up factor of real-time mode (2 = twice as fast as beam)",
                        low=0.0, low_inclusive=False, high=1000.0)


@dataclass(frozen=True)
class BeamSection:
    energy_gev: float = param(100.0, "beam energy", unit="GeV", low=1.0, high=400.0)
    intensity_per_spill: float = param(5e6, "electrons on target per spill", unit="e-/spill",
                                       low=0.0, high=2e7)
    hadron_fraction: float = param(0.01, "beam hadrons per beam particle (pi/e about 1e-2)",
                                   low=0.0, high=0.5)
    upstream_loss_fraction: float = param(
        0.03, "electrons that radiated upstream and reach the ECAL with less energy",
        low=0.0, high=0.5)
    spot_sigma_mm: float = param(5.0, "beam spot size (Gaussian sigma in x and y)", unit="mm",
                                 low=0.0, high=50.0)
    aim_x: int = param(3, "ECAL column the beam is aimed at", low=0, high=5)
    aim_y: int = param(3, "ECAL row the beam is aimed at", low=0, high=5)
    scan_ecal: bool = param(
        False, "calibration scan: spill N is aimed at ECAL cell N-1, row by row (column "
        "(N-1) mod 6, row (N-1) // 6 mod 6), so that 36 spills visit every cell")
    particle: str = param(
        "electron", "beam particles: electrons (with the hadron, upstream-loss and rare "
        "classes below) or muons (an HCAL calibration run: straight muons over the HCAL face)",
        choices=("electron", "muon"))
    muon_width_mm: float = param(600.0, "muon beam: impact points uniform over a square this "
                                 "wide, centred on the beam axis", unit="mm", low=0.0, high=5000.0)


@dataclass(frozen=True)
class ClassesSection:
    electronuclear_probability: float = param(
        1e-3, "electro-nuclear reactions (E_ECAL + E_HCAL = E_beam) per beam electron",
        low=0.0, high=0.5)
    electronuclear_boost: float = param(1.0, "enhancement of electro-nuclear events", low=0.0,
                                        high=1e6)
    dimuon_probability: float = param(2.3e-7, "muon pairs per beam electron (NA64: 1e4 in 4.3e10)",
                                      low=0.0, high=0.5)
    dimuon_boost: float = param(1000.0, "enhancement of muon pairs so that a spill shows them",
                                low=0.0, high=1e8)
    signal_probability: float = param(0.0, "invisible A' decays per beam electron", low=0.0,
                                      high=0.5)
    signal_boost: float = param(1.0, "enhancement of A' signal events", low=0.0, high=1e12)
    signal_min_fraction: float = param(0.3, "smallest fraction of the energy taken by the A'",
                                       low=0.0, high=1.0)


@dataclass(frozen=True)
class TriggerSection:
    physics_rate_hz: float = param(-1.0, "invisible-mode trigger rate during the spill; -1: "
                                   "follows the beam (the intensity times the trigger's "
                                   "acceptance, divided by physics_prescale); a fixed rate "
                                   "(tests, benchmarks) makes per-EOT yields meaningless",
                                   unit="Hz", low=-1.0, high=1e6)
    physics_prescale: float = param(16.0, "one physics trigger in this many is read out "
                                    "(about 1 kHz at 5e6 e-/spill, the trigger accepting "
                                    "1.7 % of the beam); the monitor's per-EOT yields are "
                                    "multiplied back by it", low=1.0, high=1e9)
    calibration_rate_hz: float = param(50.0, "open (calibration) trigger rate during the spill",
                                       unit="Hz", low=0.0, high=1e6)
    random_rate_hz: float = param(20.0, "random trigger rate during the spill", unit="Hz",
                                  low=0.0, high=1e6)
    led_rate_hz: float = param(10.0, "LED (reference light pulse) trigger rate during the spill",
                               unit="Hz", low=0.0, high=1e6)
    ecal_max_gev: float = param(80.0, "physics trigger: in-time E_ECAL below this", unit="GeV",
                                low=0.0, high=1000.0)
    preshower_min_gev: float = param(0.5, "physics trigger: preshower energy above this",
                                     unit="GeV", low=0.0, high=100.0)


@dataclass(frozen=True)
class ResponseSection:
    ecal_stochastic: float = param(0.10, "ECAL resolution stochastic term a in a/sqrt(E/GeV)",
                                   low=0.0, high=1.0)
    ecal_constant: float = param(0.04, "ECAL resolution constant term (added in quadrature)",
                                 low=0.0, high=1.0)
    ecal_central_share: float = param(
        0.684, "fraction of a centred 100 GeV shower in the central ECAL cell", low=0.2,
        high=0.99)
    ecal_cell_mm: float = param(38.2, "ECAL cell pitch", unit="mm", low=1.0, high=500.0)
    hcal_cell_mm: float = param(194.0, "HCAL cell pitch (3 x 3 cells per module)", unit="mm",
                                low=1.0, high=2000.0)
    preshower_fraction: float = param(0.05, "mean fraction of an e-m shower in the preshower",
                                      low=0.0, high=0.5)
    preshower_fraction_spread: float = param(0.3, "relative spread of that fraction", low=0.0,
                                             high=2.0)
    hcal_stochastic: float = param(0.6, "HCAL hadronic resolution term a in a/sqrt(E/GeV)",
                                   low=0.0, high=2.0)
    hcal_central_share: float = param(0.6, "fraction of a hadron shower in the central HCAL cell",
                                      low=0.1, high=1.0)
    hadron_ecal_fraction: float = param(0.08, "mean fraction of a hadron's energy left in the ECAL",
                                        low=0.0, high=1.0)
    mip_hcal_gev: float = param(2.5, "muon (MIP) energy per HCAL module", unit="GeV", low=0.0,
                                high=50.0)
    mip_ecal_gev: float = param(0.3, "muon (MIP) energy in the whole ECAL", unit="GeV", low=0.0,
                                high=10.0)
    mip_counter_gev: float = param(0.002, "MIP energy in a beam, veto or muon counter",
                                   unit="GeV", low=0.0, high=1.0)
    srd_mean_gev: float = param(0.015, "mean synchrotron energy per SRD module from a beam e-",
                                unit="GeV", low=0.0, high=1.0)
    time_jitter_ns: float = param(0.3, "timing jitter constant term per pulse", unit="ns",
                                  low=0.0, high=50.0)
    time_jitter_adc_ns: float = param(
        30.0, "timing jitter term that scales as 1/amplitude (ns x ADC counts)", unit="ns*ADC",
        low=0.0, high=1e5)
    gain_drift_fraction: float = param(
        0.0, "gain lost linearly over a spill (NA64 saw about 0.03 in the ECAL); 0 = off",
        low=-0.5, high=0.5)
    pmt_saturation: float = param(
        0.0, "PMT saturation at the start of a spill (0 = off; 1 halves a full-scale pulse)",
        low=0.0, high=10.0)
    pmt_saturation_decay_s: float = param(0.5, "decay time of that saturation within the spill",
                                          unit="s", low=1e-3, high=60.0)
    led_adc: float = param(2500.0, "LED pulse amplitude of a calorimeter PMT at the nominal HV "
                           "and the mean LED light", unit="ADC", low=0.0, high=4095.0)
    led_light_spread: float = param(
        0.05, "per-PMT spread of the LED light reaching it (uniform +-this, fixed per channel)",
        low=0.0, high=0.5)
    led_fluctuation: float = param(0.01, "flash-to-flash relative fluctuation of an LED pulse",
                                   low=0.0, high=0.5)


@dataclass(frozen=True)
class GainsSection:
    adc_per_gev_ecal0: float = param(NOMINAL_ADC_PER_GEV["ECAL0"], "nominal preshower gain "
                                     "(pulse amplitude)", unit="ADC/GeV", low=0.0,
                                     low_inclusive=False, high=1e7)
    adc_per_gev_ecal1: float = param(NOMINAL_ADC_PER_GEV["ECAL1"], "nominal ECAL main-section "
                                     "gain", unit="ADC/GeV", low=0.0, low_inclusive=False,
                                     high=1e7)
    adc_per_gev_hcal: float = param(NOMINAL_ADC_PER_GEV["HCAL"], "nominal HCAL gain",
                                    unit="ADC/GeV", low=0.0, low_inclusive=False, high=1e7)
    adc_per_gev_srd: float = param(NOMINAL_ADC_PER_GEV["SRD"], "nominal SRD gain",
                                   unit="ADC/GeV", low=0.0, low_inclusive=False, high=1e9)
    adc_per_gev_counter: float = param(NOMINAL_ADC_PER_GEV["COUNTER"], "nominal beam/veto/muon "
                                       "counter gain", unit="ADC/GeV", low=0.0,
                                       low_inclusive=False, high=1e9)
    hv_nominal_v: float = param(1000.0, "high voltage at which the nominal gains hold", unit="V",
                                low=100.0, high=5000.0)
    hv_k: float = param(7.0, "PMT gain exponent: gain proportional to HV^k", low=1.0, high=15.0)
    hv_gain_spread: float = param(
        0.0, "deliberate gain mis-setting: HVs set so that gains spread uniformly by +-this",
        low=0.0, high=0.5)
    hv_table: str = param("", "TOML file {channel = volts}: HVs that override the nominal ones")
    hv_from_conditions: bool = param(
        False, "load the HV set points in force for the run from the conditions database "
        "($NA64DAQ_DB), as the HV system does; they override hv_gain_spread and hv_table")

    def nominal_adc_per_gev(self, detector: Detector) -> np.ndarray:
        """Per channel of the map, its detector's nominal gain (ADC/GeV at hv_nominal_v) as
        this emulator is set: what its gains start from."""
        return detector.nominal_adc_per_gev({
            "ECAL0": self.adc_per_gev_ecal0, "ECAL1": self.adc_per_gev_ecal1,
            "HCAL": self.adc_per_gev_hcal, "SRD": self.adc_per_gev_srd,
            "COUNTER": self.adc_per_gev_counter})


@dataclass(frozen=True)
class DigitizerSection:
    trigger_offset_ns: float = param(100.0, "time of the in-time pulse peak after window start",
                                     unit="ns", low=0.0, high=10000.0)
    pulse_peak_ns: float = param(30.0, "pulse rise: start to peak (2-3 samples)", unit="ns",
                                 low=1.0, high=500.0)
    pulse_order: int = param(4, "order n of the (t/tau)^n exp(-t/tau) pulse shape", low=1,
                             high=12)
    true_pulse_scale: float = param(
        1.0, "the drawn pulses' rise and fall times over the template's (real pulses are not "
        "the reconstruction's template: 0.8-1.2 tests it)", low=0.5, high=2.0)
    true_pulse_spread: float = param(0.0, "channel-to-channel spread (sigma) of "
                                     "true_pulse_scale", low=0.0, high=0.5)
    slow_fraction: float = param(0.0, "a second, slow component of the drawn pulses: its share "
                                 "of the peak", low=0.0, high=0.5)
    slow_peak_ns: float = param(120.0, "the slow component's rise from start to peak",
                                unit="ns", low=1.0, high=2000.0)
    pedestal_min_adc: float = param(80.0, "lowest per-channel pedestal", unit="ADC", low=0.0,
                                    high=4000.0)
    pedestal_max_adc: float = param(220.0, "highest per-channel pedestal", unit="ADC", low=0.0,
                                    high=4000.0)
    odd_even_sigma_adc: float = param(8.0, "spread of the odd-minus-even pedestal difference",
                                      unit="ADC", low=0.0, high=500.0)
    noise_adc: float = param(1.5, "Gaussian noise per sample", unit="ADC", low=0.0, high=500.0)
    pileup_tail_ns: float = param(300.0, "pileup is generated this long before the window too",
                                  unit="ns", low=0.0, high=5000.0)


@dataclass(frozen=True)
class PublishSection:
    bind_host: str = param("127.0.0.1", "address the sources bind to (0.0.0.0 for other machines)")
    base_port: int = param(5550, "source N publishes on tcp port base_port + N", low=1024,
                           high=65000)
    send_hwm: int = param(16, "frames queued per source before back-pressure", low=1,
                          high=100000)
    linger_s: float = param(10.0, "how long unsent frames may keep a finished source alive",
                            unit="s", low=0.0, high=3600.0)

    def endpoint(self, source_id: int) -> str:
        return f"tcp://{self.bind_host}:{self.base_port + source_id}"


@dataclass(frozen=True)
class FaultsSection:
    """Deliberate faults (``docs/emulator.md``): from spill ``at_spill`` on, to the run's end
    or to the spill before ``until_spill``."""

    skip_source: int = param(0, "fault injection: this source id silently skips events "
                             "(0 = none)", low=0, high=65535)
    skip_every: int = param(7, "the faulty source skips events whose number is a multiple "
                            "of this", low=1, high=1_000_000)
    at_spill: int = param(0, "the faults below start at this spill (0 = never)", low=0,
                          high=100000)
    until_spill: int = param(0, "and end before this spill (0 = last to the end of the run)",
                             low=0, high=100000)
    dead_channel: str = param("", "this channel's PMT gives nothing (gain 0)")
    hot_channel: str = param("", "this channel fires in every event (a pulse of hot_adc)")
    hot_adc: float = param(300.0, "the hot channel's pulse", unit="ADC", low=0.0, high=4095.0)
    pedestal_channel: str = param("", "this channel's pedestals jump by pedestal_jump_adc")
    pedestal_jump_adc: float = param(5.0, "the pedestal jump", unit="ADC", low=-500.0,
                                     high=500.0)
    gain_channel: str = param("", "this channel's gain drops by gain_drop_fraction")
    gain_drop_fraction: float = param(0.05, "the gain drop (0.05: 5 %)", low=0.0, high=1.0)
    beam_off: bool = param(False, "no beam: no physics or calibration trigger, no pileup")
    stop_source: int = param(0, "this crate stops sending event frames (0 = none)", low=0,
                             high=65535)
    lag_source: int = param(0, "this crate's frames come lag_s late: its readout slowed (at "
                            "the beam's pace; 0 = none)", low=0, high=65535)
    lag_s: float = param(1.0, "how late the lagging crate's frames come", unit="s", low=0.0,
                         high=600.0)
    gone_source: int = param(0, "this crate's endpoint disappears after its first batch of "
                             "a spill (its socket closed, what was queued in it lost) and "
                             "comes back gone_s later (0 = none)", low=0, high=65535)
    gone_s: float = param(2.0, "how long the endpoint is gone", unit="s", low=0.0, high=600.0)
    reset_source: int = param(0, "this crate's event counter restarts from the spill's first "
                              "event after its first batch (its readout restarted; 0 = none)",
                              low=0, high=65535)

    def on(self, spill: int) -> bool:
        return 0 < self.at_spill <= spill and not 0 < self.until_spill <= spill


@dataclass(frozen=True)
class EmulatorConfig:
    run: RunSection = section(RunSection, "run number, seed, spills, batching")
    spill: SpillSection = section(SpillSection, "spill structure and pace")
    beam: BeamSection = section(BeamSection, "beam energy, intensity and composition")
    classes: ClassesSection = section(ClassesSection, "rare physics classes and their boosts")
    trigger: TriggerSection = section(TriggerSection, "trigger rates and conditions")
    response: ResponseSection = section(ResponseSection, "detector response")
    gains: GainsSection = section(GainsSection, "gains and high voltages")
    digitizer: DigitizerSection = section(DigitizerSection, "MSADC pulse, pedestals, noise")
    publish: PublishSection = section(PublishSection, "ZeroMQ endpoints of the sources")
    faults: FaultsSection = section(FaultsSection, "deliberate faults, for tests and training")

    def check(self) -> None:
        if self.publish.bind_host != "*" and not valid_host(self.publish.bind_host):
            raise ConfigError(f"publish.bind_host = {self.publish.bind_host!r}: not an IP "
                              "address, a host name (RFC 1123) or *")
        d = self.digitizer
        if d.pedestal_min_adc > d.pedestal_max_adc:
            raise ConfigError(
                f"digitizer.pedestal_min_adc = {d.pedestal_min_adc:g} is above "
                f"digitizer.pedestal_max_adc = {d.pedestal_max_adc:g}")
        total = (self.beam.hadron_fraction + self.beam.upstream_loss_fraction
                 + self.classes.electronuclear_probability * self.classes.electronuclear_boost
                 + self.classes.dimuon_probability * self.classes.dimuon_boost
                 + self.classes.signal_probability * self.classes.signal_boost)
        if total >= 1.0:
            raise ConfigError(
                f"beam and class fractions (times boosts) add up to {total:.3g}: must be < 1 "
                "so that some beam particles are plain electrons")
        t = self.trigger
        if self.beam.particle == "muon" and t.physics_rate_hz > 0:
            raise ConfigError("beam.particle = muon: the physics trigger (a shower in the ECAL) "
                              "selects no muon; set trigger.physics_rate_hz = 0")
        follows_beam = t.physics_rate_hz == -1.0
        if t.physics_rate_hz < 0 and not follows_beam:
            raise ConfigError(f"trigger.physics_rate_hz = {t.physics_rate_hz:g}: -1 (follow "
                              "the beam) or a rate >= 0")
        physics = t.physics_rate_hz > 0 or (follows_beam and self.beam.particle != "muon"
                                            and self.beam.intensity_per_spill > 0)
        if not physics and t.calibration_rate_hz + t.random_rate_hz + t.led_rate_hz <= 0:
            raise ConfigError("trigger: all trigger rates are 0; at least one must be > 0")

    def check_detector(self, window_ns: float) -> None:
        """Refuse settings that do not fit the detector map's readout window."""
        d = self.digitizer
        if d.trigger_offset_ns + d.pulse_peak_ns >= window_ns:
            raise ConfigError(
                f"digitizer.trigger_offset_ns = {d.trigger_offset_ns:g}: the in-time pulse must "
                f"peak inside the {window_ns:g} ns readout window (samples_per_channel x "
                "sample_period_ns); allowed < "
                f"{window_ns - d.pulse_peak_ns:g} ns")
        if d.trigger_offset_ns < d.pulse_peak_ns:
            raise ConfigError(
                f"digitizer.trigger_offset_ns = {d.trigger_offset_ns:g}: must be >= "
                f"digitizer.pulse_peak_ns = {d.pulse_peak_ns:g} so that pre-signal samples exist "
                "for the pedestal")
