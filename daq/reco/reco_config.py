"""Every threshold, window and shape the reconstruction uses, with its unit and default; one
place, listed by ``na64daq config --reco``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daq.core.config_schema import ConfigError, build, param, section


@dataclass(frozen=True)
class PedestalSection:
    samples: int = param(6, "first samples of the window used for the even and odd pedestals "
                         "(the in-time pulse starts after sample 5)", low=2, high=16)
    max_deviation_adc: float = param(
        12.0, "a pre-signal sample this far from its pedestal means a pulse sits early in the "
        "window: the running pedestal from random triggers is used instead", unit="ADC", low=1.0)
    max_shift_adc: float = param(
        3.0, "pedestals this far from the running ones mean a small pulse (pileup, too small "
        "to pass max_deviation_adc) sits in the pre-signal samples: the running ones are used "
        "(3.5 sigma of the mean of 3 samples at 1.5 ADC noise; an early pileup electron's "
        "small cells biased E_ECAL by -1.4 % before)", unit="ADC", low=0.5)
    running_weight: float = param(0.05, "weight of each random trigger in the running pedestal",
                                  low=1e-4, high=1.0)


@dataclass(frozen=True)
class PulseSection:
    threshold_adc: float = param(10.0, "a pulse must rise this far above the pedestal and above "
                                 "the valley before it (peak prominence)", unit="ADC", low=1.0)
    max_pulses: int = param(4, "pulses fitted per channel at most", low=1, high=8)
    fit_iterations: int = param(8, "Gauss-Newton iterations of the template fit at most (it "
                                "stops when the peak times settle; with 4, most two-pulse fits "
                                "were still moving, and lost in-time energy to the neighbour)",
                                low=1, high=20)
    chi2_per_sample_max: float = param(
        6.0, "a single-pulse fit worse than this (in units of noise^2 per sample) is tried as "
        "two overlapping pulses", low=1.0)
    noise_adc: float = param(1.5, "noise per sample assumed by the fit quality", unit="ADC",
                             low=0.1)
    trigger_offset_ns: float = param(100.0, "expected peak of an in-time pulse after the window "
                                     "start, before the trigger phase", unit="ns")
    in_time_window_ns: float = param(6.0, "an in-time pulse peaks within this of the expected "
                                     "time", unit="ns", low=0.5)
    trigger_phase: str = param(
        "measured", "measured: the trigger's phase to the 80 MHz sampling clock is in "
        "trigger_time_ns (our crates' frames, the emulator); unknown: it is not (NA64's DATE "
        "raw data keep times to the microsecond): the expected peak is trigger_offset_ns plus "
        "half a sample period, and the in-time window wider by half a period",
        choices=("measured", "unknown"))
    separate_ns: float = param(50.0, "pulses further apart than this are measured one by one "
                               "(the earlier one's tail peeled off); closer ones are fitted "
                               "together", unit="ns", low=0.0)
    forced_time_spread_ns: float = param(
        10.0, "a pulse too small to be found has poor timing (tens of ns at a few ADC counts): "
        "the amplitude at the expected time of a channel without a pulse is measured with the "
        "template averaged over this time spread (Gaussian sigma), so that on average none of "
        "the energy of the small cells at a shower's edge is lost", unit="ns", low=0.0)
    peak_ns: float = param(30.0, "pulse template: rise from start to peak", unit="ns", low=1.0)
    order: int = param(4, "pulse template: order n of s^n exp(n (1 - s))", low=1, high=12)


@dataclass(frozen=True)
class PileupSection:
    method: str = param("ours", "which rule classifies an event as pileup: 'ours' (multi-pulse "
                        "fit, in-time energy kept) or 'na64' (the published rule)",
                        choices=("ours", "na64"))
    unresolved_ns: float = param(4.0, "ours: an out-of-time pulse this close to the in-time one "
                                 "in a significant cell cannot be separated", unit="ns", low=0.0)
    cell_min_gev: float = param(1.0, "cells above this are checked by either rule", unit="GeV",
                                low=0.0)
    counter_mip_gev: float = param(0.002, "ours: what one particle leaves in a beam counter "
                                   "(the counters' most probable signal)", unit="GeV", low=1e-6)
    counter_max_mips: float = param(
        1.8, "ours: the beam counters' mean in-time signal above this many particles' is two "
        "particles in time, which no cell can tell apart (none of 3,291 electrons without "
        "pileup passed it); a second electron is caught by its energy anyway: E_ECAL + E_HCAL "
        "above the beam energy + classes.region2_tolerance_gev is pileup too", low=1.0)
    na64_window_ns: float = param(2.0, "na64: the single pulse of a checked cell within this of "
                                  "the trigger time", unit="ns", low=0.0)
    na64_ecal_out_of_time_max_gev: float = param(30.0, "na64: out-of-time ECAL energy limit",
                                                 unit="GeV", low=0.0)
    na64_hcal_out_of_time_max_gev: float = param(50.0, "na64: out-of-time HCAL energy limit",
                                                 unit="GeV", low=0.0)


@dataclass(frozen=True)
class SrdSection:
    window_ns: float = param(1.5, "an SR pulse is in time within this of the expected time "
                             "(electrons' SR pulses: 0.22 ns median, 0.7 ns at 95 %; what the "
                             "window adds is pileup electrons, the accidental tags of hadrons)",
                             unit="ns", low=0.1)
    module_min_gev: float = param(0.001, "in-time SR energy per module at least", unit="GeV",
                                  low=0.0)
    module_max_gev: float = param(0.08, "and at most (above: a hadron's shower)", unit="GeV",
                                  low=0.0)
    modules_required: int = param(3, "modules with SR needed for the tag", low=1, high=8)
    sideband_lo_ns: float = param(150.0, "side band for accidental tags: from this time after "
                                  "the expected in-time peak", unit="ns", low=10.0)
    sideband_hi_ns: float = param(270.0, "to this time", unit="ns", low=20.0)


@dataclass(frozen=True)
class ClassesSection:
    beam_energy_gev: float = param(100.0, "beam energy", unit="GeV", low=1.0)
    region2_tolerance_gev: float = param(15.0, "region II: E_ECAL + E_HCAL within this of the "
                                         "beam energy", unit="GeV", low=0.0)
    signal_ecal_max_gev: float = param(50.0, "signal box: E_ECAL below", unit="GeV", low=0.0)
    signal_hcal_max_gev: float = param(1.0, "signal box: E_HCAL (all modules) below",
                                       unit="GeV", low=0.0)
    mip_min_gev: float = param(1.0, "muon tag: every HCAL module at least", unit="GeV", low=0.0)
    mip_max_gev: float = param(10.0, "muon tag: every HCAL module at most", unit="GeV", low=0.0)
    muon_counter_min_adc: float = param(50.0, "muon tag: a muon counter at least", unit="ADC",
                                        low=0.0)
    blinded: bool = param(True, "signal-box energies are hidden from the monitor")


@dataclass(frozen=True)
class CandidateSection:
    """The signal selection of [001] that this set-up can apply: a signal-box event is a
    candidate only if it passes all of it (``docs/reconstruction.md``, Signal candidates)."""

    srd_module_min_gev: float = param(0.003, "in-time SR energy in every SRD module at least "
                                      "(a 100 GeV electron's: 97.5 % above per module; an "
                                      "upstream-loss electron radiates (E/E_beam)^2 of it)",
                                      unit="GeV", low=0.0)
    srd_module_max_gev: float = param(0.08, "and at most (above: a hadron's shower)",
                                      unit="GeV", low=0.0)
    veto_max_gev: float = param(0.001, "every veto counter below (half a MIP, 2 MeV)",
                                unit="GeV", low=0.0)
    shape_chi2_max: float = param(5.0, "ECAL shower-shape chi2 per degree of freedom below "
                                  "(electrons: 99.5 % below 1.4; hadrons' median 13)", low=0.0)


@dataclass(frozen=True)
class CalibrationSection:
    drift_correction: bool = param(True, "correct the intra-spill gain drift measured from the "
                                   "calibration-trigger electrons")
    drift_min_events: int = param(200, "electrons needed before a drift is applied", low=2)
    drift_memory_spills: float = param(3.0, "spills over which the drift estimate is averaged",
                                       low=1.0)


@dataclass(frozen=True)
class RecoConfig:
    pedestal: PedestalSection = section(PedestalSection, "even/odd pedestals")
    pulses: PulseSection = section(PulseSection, "pulse finding and the template fit")
    pileup: PileupSection = section(PileupSection, "pileup rules")
    srd: SrdSection = section(SrdSection, "synchrotron-radiation tag")
    classes: ClassesSection = section(ClassesSection, "event classes and blinding")
    candidate: CandidateSection = section(CandidateSection, "signal-candidate selection")
    calibration: CalibrationSection = section(CalibrationSection, "online corrections")


def recorded(values: Any) -> RecoConfig:
    """The configuration a run was reconstructed with, from what its file or snapshot
    recorded (a mapping, or its JSON text); an unreadable record is a ConfigError, and no
    record at all (files and snapshots of before the ``[reco]`` section) means the defaults."""
    import json

    if values is None:
        return RecoConfig()
    if isinstance(values, (str, bytes)):
        try:
            values = json.loads(values)
        except ValueError as exc:
            raise ConfigError(f"recorded reconstruction configuration: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError("recorded reconstruction configuration: not a table")
    return build(RecoConfig, values, "reco.")
