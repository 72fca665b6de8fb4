"""The emulated beam and detector response against the configured physics, within statistics."""

import math

import numpy as np
import pytest

from daq.core.config_schema import ConfigError
from daq.core.wire_format import TriggerKind
from emulator.config import (
    CLASS_NAMES,
    DIMUON,
    ELECTRON,
    ELECTRONUCLEAR,
    HADRON,
    MUON,
    NOTHING,
    SIGNAL,
)
from emulator.physics import class_weights

CALIB, PHYS, RANDOM = TriggerKind.CALIBRATION, TriggerKind.PHYSICS, TriggerKind.RANDOM


def _within(observed: float, expected: float, sigma: float, n_sigma: float = 4.0) -> bool:
    return abs(observed - expected) <= n_sigma * sigma


def test_open_trigger_sees_the_configured_beam_composition(rich_emulator, rich_spill):
    sel = rich_spill["trigger"] == CALIB
    n = int(sel.sum())
    assert n > 4000
    weights = class_weights(rich_emulator.cfg, boosted=True)
    counts = np.bincount(rich_spill["class"][sel].astype(int), minlength=len(CLASS_NAMES))
    for cls, w in enumerate(weights):
        sigma = math.sqrt(n * w * (1 - w)) + 1.0
        assert _within(counts[cls], n * w, sigma), (CLASS_NAMES[cls], counts[cls], n * w)


def test_physics_trigger_is_the_invisible_mode_condition(rich_emulator, rich_spill):
    t = rich_emulator.cfg.trigger
    sel = rich_spill["trigger"] == PHYS
    assert sel.sum() > 2000
    assert (rich_spill["e_ecal_gev"][sel] < t.ecal_max_gev).all()
    # the preshower condition holds up to the tiny lateral leakage out of the 6x6 matrix
    assert (rich_spill["e_preshower_gev"][sel] > 0.99 * t.preshower_min_gev).all()
    cls = rich_spill["class"][sel]
    # full-energy electrons are 5 sigma above the ECAL cut: essentially never triggered,
    # while every rare class is enriched with respect to the open trigger
    assert np.mean(cls == ELECTRON) < 0.001
    for rare in (HADRON, DIMUON, SIGNAL):
        open_frac = np.mean(rich_spill["class"][rich_spill["trigger"] == CALIB] == rare)
        assert np.mean(cls == rare) > 2 * open_frac
    assert (rich_spill["class"][rich_spill["trigger"] == RANDOM] == NOTHING).all()


@pytest.mark.parametrize("intensity", [1e6, 3e6, 5e6, 7e6])
def test_pileup_fraction_follows_the_beam_rate(detector, intensity, make_emulator, emulate_spill):
    em = make_emulator(**{"beam.intensity_per_spill": intensity,
                                    "trigger.physics_rate_hz": 0.0,
                                    "trigger.calibration_rate_hz": 0.0,
                                    "trigger.random_rate_hz": 4000.0})
    truth = emulate_spill(em)
    n = len(truth["class"])
    rate_per_ns = intensity / (em.cfg.spill.duration_s * 1e9)
    expected = 1.0 - math.exp(-rate_per_ns * detector.window_ns)
    observed = np.mean(truth["n_pileup_window"] > 0)
    assert _within(observed, expected, math.sqrt(expected * (1 - expected) / n)), (
        observed, expected)
    # pileup times cover the window and the tail before it, uniformly
    lo = -em.cfg.digitizer.trigger_offset_ns - em.cfg.digitizer.pileup_tail_ns
    hi = detector.window_ns - em.cfg.digitizer.trigger_offset_ns
    times = truth["pileup_time_ns"]
    assert times.min() >= lo and times.max() <= hi
    mean_count = rate_per_ns * (hi - lo)
    assert _within(truth["n_pileup"].mean(), mean_count, math.sqrt(mean_count / n))


def test_five_e6_gives_a_third_to_a_half_of_events_with_pileup(rich_spill):
    frac_window = np.mean(rich_spill["n_pileup_window"] > 0)
    frac_any = np.mean(rich_spill["n_pileup"] > 0)
    assert 0.30 < frac_window < 0.38  # 1 - exp(-1.04e6/s x 400 ns) = 0.34
    assert 0.40 < frac_any < 0.52  # including tails of earlier particles


@pytest.mark.parametrize("energy", [20.0, 50.0, 100.0])
def test_ecal_resolution_and_scale(detector, energy, make_emulator, emulate_spill):
    em = make_emulator(**{"beam.energy_gev": energy, "trigger.physics_rate_hz": 0.0,
                                    "trigger.calibration_rate_hz": 8000.0,
                                    "trigger.random_rate_hz": 0.0,
                                    "trigger.ecal_max_gev": 0.9 * energy})
    truth = emulate_spill(em)
    e = truth["e_ecal_gev"][truth["class"] == ELECTRON]
    n = len(e)
    r = em.cfg.response
    sigma_rel = math.sqrt(r.ecal_stochastic**2 / energy + r.ecal_constant**2)
    assert _within(e.mean(), energy, energy * sigma_rel / math.sqrt(n) + 0.002 * energy)
    assert _within(e.std() / e.mean(), sigma_rel, sigma_rel / math.sqrt(2 * n))


def test_central_cell_holds_the_configured_share(detector, make_emulator, emulate_spill):
    em = make_emulator(**{"beam.spot_sigma_mm": 0.0, "trigger.physics_rate_hz": 0.0,
                                    "trigger.calibration_rate_hz": 2000.0,
                                    "trigger.random_rate_hz": 0.0})
    truth = emulate_spill(em)
    sel = truth["class"] == ELECTRON
    b = em.cfg.beam
    central = [detector.grid("ECAL", s)[b.aim_y, b.aim_x] for s in (0, 1)]
    share = truth["deposit_gev"][sel][:, central].sum(1) / truth["e_ecal_gev"][sel]
    assert abs(share.mean() - em.cfg.response.ecal_central_share) < 0.002
    ps_share = truth["e_preshower_gev"][sel] / truth["e_ecal_gev"][sel]
    assert abs(ps_share.mean() - em.cfg.response.preshower_fraction) < 0.003


def _hcal(truth, sel, modules=range(4)):
    return truth["e_hcal_module_gev"][sel][:, list(modules)].sum(1)


def test_dimuons_leave_mips_in_every_hcal_module(rich_emulator, rich_spill, detector):
    sel = rich_spill["class"] == DIMUON
    assert sel.sum() > 200
    mip = rich_emulator.cfg.response.mip_hcal_gev
    per_module = rich_spill["e_hcal_module_gev"][sel]
    assert np.allclose(per_module.mean(0), 2 * mip, rtol=0.05)  # two muons per module
    assert abs(np.median(_hcal(rich_spill, sel, (0, 1))) - 4 * mip) < 0.1 * 4 * mip
    mu = rich_spill["deposit_gev"][sel][:, detector.muon_counters]
    assert (mu > 0).all()  # both muons cross every muon counter


def test_hadrons_leave_little_in_the_ecal_and_the_rest_in_the_hcal(rich_emulator, rich_spill):
    e0 = rich_emulator.cfg.beam.energy_gev
    sel = (rich_spill["class"] == HADRON) & (rich_spill["trigger"] == CALIB)
    assert sel.sum() > 150
    ecal = rich_spill["e_ecal_gev"][sel]
    expected_ecal = rich_emulator.cfg.response.hadron_ecal_fraction * e0
    assert np.median(ecal) < expected_ecal
    total = ecal + _hcal(rich_spill, sel)
    assert abs(np.median(total) / e0 - 1.0) < 0.05
    assert (rich_spill["deposit_gev"][sel][:, rich_emulator.detector.srd] == 0).all()


def test_electronuclear_events_share_the_beam_energy(rich_emulator, rich_spill):
    e0 = rich_emulator.cfg.beam.energy_gev
    sel = rich_spill["class"] == ELECTRONUCLEAR
    assert sel.sum() > 50
    total = rich_spill["e_ecal_gev"][sel] + _hcal(rich_spill, sel)
    assert abs(np.mean(total) / e0 - 1.0) < 0.03
    assert (_hcal(rich_spill, sel) > 5.0).mean() > 0.9


def test_signal_events_leave_nothing_downstream(rich_emulator, rich_spill):
    sel = rich_spill["class"] == SIGNAL
    assert sel.sum() > 20
    assert (_hcal(rich_spill, sel) == 0).all()
    assert (rich_spill["deposit_gev"][sel][:, rich_emulator.detector.veto] == 0).all()
    assert (rich_spill["e_ecal_gev"][sel] < rich_emulator.cfg.trigger.ecal_max_gev).all()


def test_srd_sees_electrons_not_hadrons(rich_emulator, rich_spill):
    srd = rich_spill["deposit_gev"][:, rich_emulator.detector.srd]
    cal = rich_spill["trigger"] == CALIB
    el = cal & (rich_spill["class"] == ELECTRON)
    assert abs(srd[el].mean() - rich_emulator.cfg.response.srd_mean_gev) < 0.05 * 0.015
    assert (srd[cal & (rich_spill["class"] == HADRON)] == 0).all()
    assert (rich_spill["deposit_gev"][el][:, rich_emulator.detector.veto] == 0).all()


def test_a_muon_beam_crosses_one_hcal_column_with_a_mip_per_module(detector, make_emulator,
                                                                   emulate_spill):
    em = make_emulator(**{"beam.particle": "muon", "trigger.physics_rate_hz": 0.0,
                          "trigger.calibration_rate_hz": 9000.0, "trigger.led_rate_hz": 0.0,
                          "trigger.random_rate_hz": 0.0, "spill.duration_s": 0.5,
                          "beam.intensity_per_spill": 1e4})
    truth = emulate_spill(em)
    assert (truth["class"] == MUON).all()
    hcal = np.stack([detector.grid("HCAL", m).ravel() for m in range(4)])  # [module, cell]
    dep = truth["deposit_gev"][:, hcal]  # (events, module, cell)
    hit = dep > 0
    crossed = hit.any((1, 2))  # the muon square (600 mm) is a little wider than the HCAL
    n = int(crossed.sum())
    width = em.cfg.beam.muon_width_mm
    face = 3 * em.cfg.response.hcal_cell_mm
    assert _within(n / len(dep), (face / width) ** 2, math.sqrt(n) / len(dep))
    # one cell per module, the same in every module: a straight track
    assert (hit[crossed].sum(2) == 1).all()
    cell = hit[crossed].argmax(2)
    assert (cell == cell[:, :1]).all()
    per_cell = np.bincount(cell[:, 0], minlength=9)  # the face uniformly lit
    assert all(_within(k, n / 9, math.sqrt(n / 9)) for k in per_cell)
    mip = dep[crossed].sum(2)  # (events, module): Gamma, mean mip_hcal_gev
    assert abs(mip.mean() / em.cfg.response.mip_hcal_gev - 1) < 0.01
    assert (truth["deposit_gev"][:, detector.srd] == 0).all()  # muons do not radiate
    mu = truth["deposit_gev"][crossed][:, detector.muon_counters]
    assert (mu > 0).all()


def test_a_muon_beam_refuses_physics_triggers(make_emulator):
    """Following the beam, the physics trigger selects no muon; a fixed rate is refused."""
    assert make_emulator(**{"beam.particle": "muon"}).physics_rate_hz == 0.0
    with pytest.raises(ConfigError, match="trigger.physics_rate_hz"):
        make_emulator(**{"beam.particle": "muon", "trigger.physics_rate_hz": 100.0})
