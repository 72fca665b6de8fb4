"""What each triggered event deposits in each channel: beam particles, physics classes, trigger
selection and pileup, as numba kernels over a batch of events.

The output is an energy deposit in GeV per particle and channel, with the particle's time
relative to the trigger; turning that into MSADC samples is ``emulator.waveforms``. Shapes of
spectra that no configuration key names (the HCAL longitudinal profile, gamma-distribution
shapes) are the module constants below, each with its meaning.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from daq.core.detector import Detector
from emulator.config import (
    DIMUON,
    ELECTRON,
    ELECTRON_LOW,
    ELECTRONUCLEAR,
    HADRON,
    MUON,
    NOTHING,
    SIGNAL,
    EmulatorConfig,
)

#: Upstream bremsstrahlung: fraction y of the energy lost, log-uniform in [min, max].
BREMS_Y_MIN, BREMS_Y_MAX = 0.02, 0.98
#: Electro-nuclear reactions: e-m fraction of the energy staying in the ECAL, uniform.
EN_EM_FRACTION_MIN, EN_EM_FRACTION_MAX = 0.3, 0.9
#: Muon pairs: fraction of the beam energy carried by the pair, uniform.
DIMUON_FRACTION_MIN, DIMUON_FRACTION_MAX = 0.2, 0.8
#: Mean share of a hadron shower per HCAL module (fluctuating, renormalised per event).
HCAL_PROFILE = np.array([0.70, 0.20, 0.07, 0.03])
#: Gamma shape of energy fluctuations: MIPs in counters, SR per SRD module, HCAL profile.
MIP_SHAPE, SR_SHAPE, PROFILE_SHAPE, MUON_HCAL_SHAPE = 6.0, 3.0, 4.0, 8.0
#: Give up drawing a physics trigger after this many beam particles (impossible trigger settings).
MAX_DRAWS = 10_000_000

PARAM_DTYPE = np.dtype([
    ("e_beam", "f8"), ("ecal_a", "f8"), ("ecal_c", "f8"), ("hcal_a", "f8"),
    ("laplace_b_mm", "f8"), ("pitch_mm", "f8"), ("spot_mm", "f8"), ("aim_x", "f8"),
    ("aim_y", "f8"), ("ps_mean", "f8"), ("ps_spread", "f8"), ("hcal_central", "f8"),
    ("had_ecal", "f8"), ("mip_hcal", "f8"), ("mip_ecal", "f8"), ("mip_counter", "f8"),
    ("srd_mean", "f8"), ("sig_min", "f8"), ("ecal_max", "f8"), ("ps_min", "f8"),
    ("pileup_rate_per_ns", "f8"), ("pileup_t_lo_ns", "f8"), ("pileup_t_hi_ns", "f8"),
    ("muon_width_mm", "f8"), ("hcal_pitch_mm", "f8"),
])

# kinematics slots of one particle
K_E, K_ECAL, K_FPS, K_HCAL, K_MUMU, K_X, K_Y, K_VETO, K_SRD, N_KIN = range(10)


def physics_params(cfg: EmulatorConfig, detector: Detector) -> np.ndarray:
    """Pack the configuration into the record the kernels read."""
    r, b = cfg.response, cfg.beam
    p = np.zeros(1, PARAM_DTYPE)
    # a separable Laplace profile whose central-cell share, for a centred shower, is the
    # configured one: per axis the central cell holds sqrt(share) = 1 - exp(-pitch / 2b)
    laplace_b = -r.ecal_cell_mm / (2.0 * math.log(1.0 - math.sqrt(r.ecal_central_share)))
    window = detector.window_ns
    offset = cfg.digitizer.trigger_offset_ns
    values = dict(
        e_beam=b.energy_gev, ecal_a=r.ecal_stochastic, ecal_c=r.ecal_constant,
        hcal_a=r.hcal_stochastic, laplace_b_mm=laplace_b, pitch_mm=r.ecal_cell_mm,
        spot_mm=b.spot_sigma_mm, aim_x=b.aim_x, aim_y=b.aim_y, ps_mean=r.preshower_fraction,
        ps_spread=r.preshower_fraction_spread, hcal_central=r.hcal_central_share,
        had_ecal=r.hadron_ecal_fraction, mip_hcal=r.mip_hcal_gev, mip_ecal=r.mip_ecal_gev,
        mip_counter=r.mip_counter_gev, srd_mean=r.srd_mean_gev,
        sig_min=cfg.classes.signal_min_fraction, ecal_max=cfg.trigger.ecal_max_gev,
        ps_min=cfg.trigger.preshower_min_gev,
        pileup_rate_per_ns=b.intensity_per_spill / (cfg.spill.duration_s * 1e9),
        pileup_t_lo_ns=-offset - cfg.digitizer.pileup_tail_ns, pileup_t_hi_ns=window - offset,
        muon_width_mm=b.muon_width_mm, hcal_pitch_mm=r.hcal_cell_mm,
    )
    for k, v in values.items():
        p[k] = v
    return p


def class_weights(cfg: EmulatorConfig, boosted: bool) -> np.ndarray:
    """Probability of each class (indexed by class code) for one beam particle."""
    c, b = cfg.classes, cfg.beam
    w = np.zeros(MUON + 1)
    if b.particle == "muon":
        w[MUON] = 1.0
        return w
    w[ELECTRON_LOW] = b.upstream_loss_fraction
    w[HADRON] = b.hadron_fraction
    w[ELECTRONUCLEAR] = c.electronuclear_probability * (c.electronuclear_boost if boosted else 1)
    w[DIMUON] = c.dimuon_probability * (c.dimuon_boost if boosted else 1)
    w[SIGNAL] = c.signal_probability * (c.signal_boost if boosted else 1)
    w[ELECTRON] = 1.0 - w.sum()
    return w


class Geometry:
    """Channel indices the kernels need, as arrays (from the detector map)."""

    def __init__(self, detector: Detector):
        self.ecal = np.stack([detector.grid("ECAL", 0), detector.grid("ECAL", 1)])  # [sec, y, x]
        self.hcal = np.stack([detector.grid("HCAL", m) for m in range(4)])  # [module, y, x]
        self.srd = detector.srd
        veto = detector.veto
        self.veto = np.array(
            [[c.index for c in detector.channels if c.detector == "VETO" and c.module == m]
             for m in sorted({detector.channels[i].module for i in veto})], dtype=np.int64)
        self.beam = detector.beam_counters
        self.muon = detector.muon_counters
        self.n_channels = detector.n_channels
        if (self.ecal < 0).any() or (self.hcal < 0).any() or self.veto.shape[1] != 2:
            raise ValueError("the emulator needs full 6x6 ECAL sections, 3x3 HCAL modules "
                             "and two PMTs per veto counter in the detector map")

    def args(self) -> tuple:
        return (self.ecal, self.hcal, self.srd, self.veto, self.beam, self.muon)


# --- kernels --------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _gamma(mean: float, shape: float) -> float:
    if mean <= 0.0:
        return 0.0
    return np.random.gamma(shape, mean / shape)


@njit(cache=True, nogil=True)
def _choose(cum: np.ndarray) -> int:
    u = np.random.random()
    for c in range(cum.shape[0]):
        if u < cum[c]:
            return c
    return ELECTRON


@njit(cache=True, nogil=True)
def _em_measured(p, e_true: float) -> float:
    """An e-m shower's visible energy with the ECAL resolution (a/sqrt(E) (+) c)."""
    if e_true <= 0.0:
        return 0.0
    sigma = e_true * math.sqrt(p.ecal_a**2 / e_true + p.ecal_c**2)
    return max(0.0, e_true + sigma * np.random.standard_normal())


@njit(cache=True, nogil=True)
def _had_measured(p, e_true: float) -> float:
    if e_true <= 0.0:
        return 0.0
    sigma = p.hcal_a * math.sqrt(e_true)
    return max(0.0, e_true + sigma * np.random.standard_normal())


@njit(cache=True, nogil=True)
def sample_kinematics(cls: int, p, kin: np.ndarray, ecal_veto: float = np.inf) -> None:
    """Draw one beam particle of class ``cls``: energies per subdetector, impact point.

    A full-energy electron whose ECAL energy reaches ``ecal_veto`` is left half drawn: the
    trigger loop rejects it anyway, and it is by far the most common draw.
    """
    kin[:] = 0.0
    e0 = p.e_beam
    kin[K_E] = e0
    kin[K_SRD] = 1.0
    if cls == ELECTRON:
        kin[K_ECAL] = _em_measured(p, e0)
        if kin[K_ECAL] >= ecal_veto:  # cannot pass the trigger: the rest is not needed
            return
    elif cls == ELECTRON_LOW:
        y = BREMS_Y_MIN * (BREMS_Y_MAX / BREMS_Y_MIN) ** np.random.random()
        kin[K_E] = e0 * (1.0 - y)
        kin[K_ECAL] = _em_measured(p, kin[K_E])
        kin[K_SRD] = (1.0 - y) ** 2  # SR power grows as E^2
    elif cls == HADRON:
        f = min(1.0, np.random.exponential(p.had_ecal))
        kin[K_ECAL] = p.mip_ecal + f * e0
        kin[K_FPS] = (p.mip_ecal * 0.1 + 0.5 * f * e0 * np.random.random() ** 3) / kin[K_ECAL]
        kin[K_HCAL] = _had_measured(p, (1.0 - f) * e0)
        kin[K_VETO] = 1.0 + np.random.exponential(1.0)
        kin[K_SRD] = 0.0
    elif cls == ELECTRONUCLEAR:
        f = EN_EM_FRACTION_MIN + (EN_EM_FRACTION_MAX - EN_EM_FRACTION_MIN) * np.random.random()
        kin[K_ECAL] = _em_measured(p, f * e0)
        kin[K_HCAL] = _had_measured(p, (1.0 - f) * e0)
        kin[K_VETO] = 1.0 + 2.0 * np.random.random()
    elif cls == DIMUON:
        f = DIMUON_FRACTION_MIN + (DIMUON_FRACTION_MAX - DIMUON_FRACTION_MIN) * np.random.random()
        kin[K_MUMU] = f * e0
        kin[K_ECAL] = _em_measured(p, (1.0 - f) * e0) + 2.0 * p.mip_ecal
        kin[K_VETO] = 2.0
    elif cls == SIGNAL:
        x = p.sig_min + (1.0 - p.sig_min) * np.random.random()
        kin[K_ECAL] = _em_measured(p, (1.0 - x) * e0)
    if cls == MUON:  # a beam muon: anywhere on the HCAL face, MIPs only (see _deposit)
        kin[K_SRD] = 0.0
        kin[K_X] = p.muon_width_mm * (np.random.random() - 0.5)
        kin[K_Y] = p.muon_width_mm * (np.random.random() - 0.5)
    else:
        kin[K_X] = p.spot_mm * np.random.standard_normal()
        kin[K_Y] = p.spot_mm * np.random.standard_normal()
    if cls != HADRON:
        kin[K_FPS] = min(0.5, _gamma(p.ps_mean, 1.0 / max(p.ps_spread, 1e-3) ** 2))


@njit(cache=True, nogil=True)
def _laplace_cdf(u: float, b: float) -> float:
    if u < 0.0:
        return 0.5 * math.exp(u / b)
    return 1.0 - 0.5 * math.exp(-u / b)


@njit(cache=True, nogil=True)
def _deposit(cls: int, kin: np.ndarray, p, ecal, hcal, srd, veto, beam, muon,
             out: np.ndarray) -> None:
    """Add the particle's energy (GeV) per channel to ``out``."""
    if cls == NOTHING:
        return
    for k in range(beam.shape[0]):
        out[beam[k]] += _gamma(p.mip_counter, MIP_SHAPE)
    if kin[K_SRD] > 0.0:
        for k in range(srd.shape[0]):
            out[srd[k]] += _gamma(p.srd_mean * kin[K_SRD], SR_SHAPE)
    if cls == MUON:
        _muon_deposit(kin, p, ecal, hcal, veto, muon, out)
        return
    # ECAL: separable Laplace lateral profile around the impact point
    e_ecal = kin[K_ECAL]
    if e_ecal > 0.0:
        fx = np.empty(ecal.shape[2])
        fy = np.empty(ecal.shape[1])
        for i in range(fx.shape[0]):
            lo = (i - p.aim_x - 0.5) * p.pitch_mm - kin[K_X]
            fx[i] = _laplace_cdf(lo + p.pitch_mm, p.laplace_b_mm) - _laplace_cdf(lo, p.laplace_b_mm)
        for j in range(fy.shape[0]):
            lo = (j - p.aim_y - 0.5) * p.pitch_mm - kin[K_Y]
            fy[j] = _laplace_cdf(lo + p.pitch_mm, p.laplace_b_mm) - _laplace_cdf(lo, p.laplace_b_mm)
        e_ps = e_ecal * kin[K_FPS]
        for j in range(fy.shape[0]):
            for i in range(fx.shape[0]):
                share = fx[i] * fy[j]
                out[ecal[0, j, i]] += e_ps * share
                out[ecal[1, j, i]] += (e_ecal - e_ps) * share
    # HCAL hadronic shower: fluctuating longitudinal profile, central cell + ring
    e_h = kin[K_HCAL]
    n_mod = hcal.shape[0]
    if e_h > 0.0:
        prof = np.empty(n_mod)
        tot = 0.0
        for m in range(n_mod):
            prof[m] = _gamma(HCAL_PROFILE[m % HCAL_PROFILE.shape[0]], PROFILE_SHAPE)
            tot += prof[m]
        for m in range(n_mod):
            e_m = e_h * prof[m] / tot
            cy, cx = hcal.shape[1] // 2, hcal.shape[2] // 2
            ring = (hcal.shape[1] * hcal.shape[2] - 1)
            for j in range(hcal.shape[1]):
                for i in range(hcal.shape[2]):
                    if j == cy and i == cx:
                        out[hcal[m, j, i]] += e_m * p.hcal_central
                    else:
                        out[hcal[m, j, i]] += _gamma(e_m * (1.0 - p.hcal_central) / ring,
                                                     PROFILE_SHAPE)
            # punch-through: the muon counter behind module m fires if the shower goes on
            if m < muon.shape[0] and m + 1 < n_mod and prof[m + 1] / tot * e_h > 1.0:
                out[muon[m]] += _gamma(p.mip_counter, MIP_SHAPE)
    # muon pair: two MIPs through the veto, every HCAL module and every muon counter
    if kin[K_MUMU] > 0.0:
        for _mu in range(2):
            cy = hcal.shape[1] // 2 + (1 if np.random.random() < 0.15 else 0)
            cx = hcal.shape[2] // 2
            for m in range(n_mod):
                out[hcal[m, cy, cx]] += _gamma(p.mip_hcal, MUON_HCAL_SHAPE)
            _muon_counter_deposit(p, muon, out)
    if kin[K_VETO] > 0.0:
        _veto_deposit(kin[K_VETO], p, veto, out)


@njit(cache=True, nogil=True)
def _veto_deposit(n_mips: float, p, veto, out: np.ndarray) -> None:
    """Charged particles leaving the ECAL (``n_mips`` MIPs), seen by both PMTs of the central
    veto counter."""
    c = veto.shape[0] // 2
    e_v = n_mips * _gamma(p.mip_counter, MIP_SHAPE)
    asym = 0.3 * (2.0 * np.random.random() - 1.0)  # light attenuation: sqrt(a1 a2) = e_v
    out[veto[c, 0]] += e_v * math.exp(asym)
    out[veto[c, 1]] += e_v * math.exp(-asym)


@njit(cache=True, nogil=True)
def _muon_counter_deposit(p, muon, out: np.ndarray) -> None:
    """A muon through every muon counter."""
    for m in range(muon.shape[0]):
        out[muon[m]] += _gamma(p.mip_counter, MIP_SHAPE)


@njit(cache=True, nogil=True)
def _cell_crossed(x_mm: float, pitch_mm: float, axis_cell: int, n: int) -> int:
    """The cell of a row of ``n`` crossed at ``x_mm`` from the beam axis, which passes through
    the centre of cell ``axis_cell``; -1 outside."""
    i = int(math.floor(x_mm / pitch_mm + axis_cell + 0.5))
    return i if 0 <= i < n else -1


@njit(cache=True, nogil=True)
def _muon_deposit(kin: np.ndarray, p, ecal, hcal, veto, muon, out: np.ndarray) -> None:
    """A straight muon parallel to the axis: a MIP in each cell and counter it crosses."""
    x, y = kin[K_X], kin[K_Y]
    i = _cell_crossed(x, p.pitch_mm, int(p.aim_x), ecal.shape[2])
    j = _cell_crossed(y, p.pitch_mm, int(p.aim_y), ecal.shape[1])
    if i >= 0 and j >= 0:
        e = _gamma(p.mip_ecal, MUON_HCAL_SHAPE)
        out[ecal[0, j, i]] += e * kin[K_FPS]
        out[ecal[1, j, i]] += e * (1.0 - kin[K_FPS])
        _veto_deposit(1.0, p, veto, out)
    i = _cell_crossed(x, p.hcal_pitch_mm, hcal.shape[2] // 2, hcal.shape[2])
    j = _cell_crossed(y, p.hcal_pitch_mm, hcal.shape[1] // 2, hcal.shape[1])
    if i >= 0 and j >= 0:
        for m in range(hcal.shape[0]):
            out[hcal[m, j, i]] += _gamma(p.mip_hcal, MUON_HCAL_SHAPE)
        _muon_counter_deposit(p, muon, out)


@njit(cache=True, nogil=True)
def _physics_triggered(p, cum: np.ndarray, kin: np.ndarray) -> int:
    """Draw beam particles until one passes the invisible-mode trigger; return its class."""
    for _ in range(MAX_DRAWS):
        cls = _choose(cum)
        sample_kinematics(cls, p, kin, p.ecal_max)
        if kin[K_ECAL] < p.ecal_max and kin[K_ECAL] * kin[K_FPS] > p.ps_min:
            return cls
    return -1


@njit(cache=True, nogil=True)
def class_acceptance(seed: int, params: np.ndarray, n_classes: int, n_draws: int) -> np.ndarray:
    """Per class, the fraction of ``n_draws`` particles of that class that pass the
    invisible-mode trigger (the cut of :func:`_physics_triggered`)."""
    np.random.seed(seed)
    p = params[0]
    kin = np.zeros(N_KIN)
    out = np.zeros(n_classes)
    for cls in range(n_classes):
        passed = 0
        for _ in range(n_draws):
            sample_kinematics(cls, p, kin, p.ecal_max)
            if kin[K_ECAL] < p.ecal_max and kin[K_ECAL] * kin[K_FPS] > p.ps_min:
                passed += 1
        out[cls] = passed / n_draws
    return out


@njit(cache=True, nogil=True)
def simulate_batch(seed: int, triggers: np.ndarray, params: np.ndarray, cum_boosted: np.ndarray,
                   cum_natural: np.ndarray, n_channels: int, ecal, hcal, srd, veto, beam, muon):
    """Deposits of a batch of events, given their trigger kinds (1 physics, 2 calib, 3 random,
    4 LED: an in-time "particle" of class nothing whose deposit the caller fills with the flash).

    Returns (event class, particle offsets per event, particle class, particle time in ns
    relative to the trigger, deposits [particle, channel] in GeV). The in-time particle, if any,
    is the first of its event. A class of -1 means the trigger settings cannot be satisfied.
    """
    np.random.seed(seed)
    p = params[0]
    n = triggers.shape[0]
    event_cls = np.empty(n, np.int8)
    n_pile = np.empty(n, np.int64)
    mean_pile = p.pileup_rate_per_ns * (p.pileup_t_hi_ns - p.pileup_t_lo_ns)
    for e in range(n):
        n_pile[e] = np.random.poisson(mean_pile)
    offsets = np.zeros(n + 1, np.int64)
    for e in range(n):
        offsets[e + 1] = offsets[e] + n_pile[e] + (0 if triggers[e] == 3 else 1)
    total = offsets[n]
    part_cls = np.empty(total, np.int8)
    part_time = np.zeros(total, np.float64)
    dep = np.zeros((total, n_channels), np.float32)
    kin = np.zeros(N_KIN)
    row = np.zeros(n_channels)
    for e in range(n):
        k = offsets[e]
        if triggers[e] == 1:
            cls = _physics_triggered(p, cum_boosted, kin)
        elif triggers[e] == 2:
            cls = _choose(cum_boosted)
            sample_kinematics(cls, p, kin)
        else:
            cls = NOTHING
        event_cls[e] = cls
        if triggers[e] != 3:
            row[:] = 0.0
            if cls >= 0:
                _deposit(cls, kin, p, ecal, hcal, srd, veto, beam, muon, row)
            part_cls[k] = cls
            dep[k, :] = row
            k += 1
        for _ in range(n_pile[e]):
            c = _choose(cum_natural)
            sample_kinematics(c, p, kin)
            row[:] = 0.0
            _deposit(c, kin, p, ecal, hcal, srd, veto, beam, muon, row)
            part_cls[k] = c
            span = p.pileup_t_hi_ns - p.pileup_t_lo_ns
            part_time[k] = p.pileup_t_lo_ns + span * np.random.random()
            dep[k, :] = row
            k += 1
    return event_cls, offsets, part_cls, part_time, dep
