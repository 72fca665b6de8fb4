"""Every channel of a batch (events x channels x samples) through the pulse stages: pedestals,
the search, first estimates from the phase table, the template fit where it is needed (with a
second pulse tried beside a poor single one, and pulses the search could not see added), and
the in-time pulse. Each stage is a small kernel of its own module, inlined here by numba.

Cost is spent where it is needed: a channel without a pulse is two passes over its samples; a
clean single pulse is read from the phase table; pulses closer than ``separate_ns``, a saturated
pulse or a poor match get the iterative template fit. Saturated samples are left out of the
fit, so a saturated pulse's amplitude comes from its unsaturated edges.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from daq.reco.pulse.flags import (
    BAD_CHANNEL,
    FIT_FAILED,
    MISSING,
    NO_PULSE,
    OUT_OF_TIME,
    PEDESTAL_FALLBACK,
    PILEUP,
    SATURATED,
)
from daq.reco.pulse.forced import forced_at, forced_weights, nearest_pulse, weighted_amplitude
from daq.reco.pulse.least_squares import (
    FIT_SAMPLES_AFTER_PEAK,
    _residual_chi2,
    fit_pulses,
    missing_pulse,
)
from daq.reco.pulse.peaks import find_peaks
from daq.reco.pulse.pedestals import even_odd_pedestal, window_extremes
from daq.reco.pulse.template import lut_estimate, template_at

#: A pulse's tail is subtracted from the next pulses up to this long after its peak (the
#: template has fallen below 1e-3 of its peak by then).
PEEL_NS = 100.0


class PulseShape(NamedTuple):
    """The template as the stages use it (all times in ns)."""

    table: np.ndarray  # the template on a STEP_NS grid, first entry at t0_ns from the peak
    t0_ns: float
    forced_table: np.ndarray  # the template smeared for forced amplitudes
    forced_t0_ns: float
    period_ns: float  # sampling period
    lut: np.ndarray  # phase table: neighbours' ratio -> (amplitude factor, time offset)
    lut_r0: float
    lut_step: float
    peak_ns: float  # rise time from the pulse's start to its peak


class PulseShapes(NamedTuple):
    """Several templates stacked (one row each, ``*_length`` its own entries): channels with
    their own learnt templates reconstructed in one call (``reconstruct_groups``)."""

    tables: np.ndarray  # (shapes, longest)
    table_length: np.ndarray  # int64 per shape
    t0_ns: np.ndarray
    forced_tables: np.ndarray
    forced_length: np.ndarray
    forced_t0_ns: np.ndarray
    period_ns: float
    luts: np.ndarray  # (shapes, lut size)
    lut_r0: np.ndarray
    lut_step: np.ndarray
    peak_ns: np.ndarray


def stack_shapes(shapes: list[PulseShape]) -> PulseShapes:
    """``shapes`` (one period) as one :class:`PulseShapes`."""
    def rows(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((len(arrays), max(len(a) for a in arrays)))
        for k, a in enumerate(arrays):
            out[k, :len(a)] = a
        return out, np.array([len(a) for a in arrays], np.int64)

    tables, lengths = rows([s.table for s in shapes])
    forced, forced_lengths = rows([s.forced_table for s in shapes])
    luts, _ = rows([s.lut for s in shapes])
    return PulseShapes(tables, lengths, np.array([s.t0_ns for s in shapes]), forced,
                       forced_lengths, np.array([s.forced_t0_ns for s in shapes]),
                       float(shapes[0].period_ns), luts, np.array([s.lut_r0 for s in shapes]),
                       np.array([s.lut_step for s in shapes]),
                       np.array([s.peak_ns for s in shapes]))


class ChannelSettings(NamedTuple):
    """The thresholds and windows of the stages (``reco.pedestal``, ``reco.pulses``,
    ``reco.pileup``, ``reco.srd``), in the units of their names."""

    adc_max: float
    pedestal_half: int  # reco.pedestal.samples // 2: even and odd samples each
    pedestal_max_dev_adc: float
    pedestal_max_shift_adc: float
    threshold_adc: float
    max_pulses: int
    iterations: int
    chi2_max: float  # per sample, in units of noise_adc^2
    noise_adc: float
    in_time_ns: float
    separate_ns: float
    side_shift_ns: float
    side_window_ns: float


class ChannelOutputs(NamedTuple):
    """Per event and channel (arrays filled in place)."""

    amplitude_adc: np.ndarray  # the in-time pulse's amplitude
    time_ns: np.ndarray  # its peak time from the window's start (NaN: none)
    out_of_time_adc: np.ndarray  # the other pulses' summed amplitude
    nearest_ns: np.ndarray  # from the in-time pulse to the nearest other one
    n_pulses: np.ndarray
    flags: np.ndarray
    pedestal_adc: np.ndarray  # (even, odd) used
    side_amplitude_adc: np.ndarray  # side band of the channels that have one, else 0


@njit(cache=True, nogil=True, inline="always")
def first_estimates(y, use, pos, k, amp, tt, peeled, shape, separate_ns, saturated):
    """Amplitude and time of the ``k`` pulses found at ``pos`` from the phase table, each
    pulse's tail peeled off before the next is read. Returns whether the template fit is
    needed: a saturated pulse, a peak at the window's edge, or pulses closer than
    ``separate_ns``."""
    n_s = y.shape[0]
    period_ns = shape.period_ns
    need_fit = saturated
    for i in range(n_s):
        peeled[i] = y[i]
    for j in range(k):
        p = pos[j]
        if 0 < p < n_s - 1 and peeled[p] > 0.0 and use[p]:
            amp[j], tt[j] = lut_estimate(peeled, p, shape.lut, shape.lut_r0, shape.lut_step,
                                         period_ns, shape.table, shape.t0_ns)
        else:
            need_fit = True
            q = p
            while q + 1 < n_s and not use[q + 1]:
                q += 1
            tt[j] = 0.5 * (p + q) * period_ns
            amp[j] = y[p] * (1.2 if not use[p] else 1.0)
        if j > 0 and tt[j] - tt[j - 1] < separate_ns:
            need_fit = True
        if j + 1 < k:  # its tail, under the next pulses
            lo_i = max(0, int((tt[j] + shape.t0_ns) / period_ns))
            hi_i = min(n_s, int((tt[j] + PEEL_NS) / period_ns) + 1)
            for i in range(lo_i, hi_i):
                f, _ = template_at(shape.table, shape.t0_ns, i * period_ns - tt[j])
                peeled[i] -= amp[j] * f
    return need_fit


@njit(cache=True, nogil=True, inline="always")
def estimates_chi2(y, use, k, amp, tt, shape):
    """(chi2, samples used) of the first estimates over the samples a fit would use."""
    period_ns = shape.period_ns
    lo_f = int(math.floor((tt[0] - shape.peak_ns) / period_ns))
    hi_f = int(math.ceil(tt[k - 1] / period_ns)) + FIT_SAMPLES_AFTER_PEAK + 1
    return _residual_chi2(y, use, k, amp, tt, lo_f, hi_f, period_ns, shape.table, shape.t0_ns)


@njit(cache=True, nogil=True, inline="always")
def try_two_pulses(y, use, amp, tt, pos, chi2, shape, threshold_adc, iterations, work):
    """A poor single-pulse fit: two overlapping pulses? A second one is tried on each side; the
    pair is kept if it halves chi2 with both pulses above threshold. Returns the number of
    pulses (1 or 2); the pair in slots 0 and 1, their samples in ``pos``."""
    period_ns = shape.period_ns
    n_s = y.shape[0]
    a0 = amp[0]
    t1 = tt[0]
    best = chi2
    k = 1
    for side in (-1.0, 1.0):
        amp[0] = 0.6 * a0
        tt[0] = t1
        amp[1] = 0.4 * a0
        tt[1] = t1 + side * period_ns
        chi2b, _ = fit_pulses(y, use, 2, amp, tt, period_ns, shape.table, shape.t0_ns,
                              shape.peak_ns, iterations, work)
        if (chi2b >= 0.0 and chi2b < 0.5 * best and amp[0] > threshold_adc
                and amp[1] > threshold_adc):
            best = chi2b
            amp[2] = amp[0]
            amp[3] = amp[1]
            tt[2] = tt[0]
            tt[3] = tt[1]
            k = 2
    if k == 2:
        amp[0], amp[1], tt[0], tt[1] = amp[2], amp[3], tt[2], tt[3]
        for j in range(2):  # the second pulse was not found by the search
            pos[j] = min(max(int(round(tt[j] / period_ns)), 0), n_s - 1)
    else:
        amp[0] = a0
        tt[0] = t1
    return k


@njit(cache=True, nogil=True, inline="always")
def add_hidden_pulses(y, use, k, amp, tt, pos, chi2, used, t_exp, shape, cfg, limit, work,
                      amp_keep, tt_keep, resid):
    """A poor fit of several pulses, none in time but some near it: one the search could not
    see (an in-time pulse on another's shoulder)? It is added where the fit leaves the most,
    and kept if the fit gets much better; again while that holds. Returns (k, chi2, used)."""
    period_ns = shape.period_ns
    n_s = y.shape[0]
    while (k > 1 and k < cfg.max_pulses and chi2 > limit * used
           and nearest_pulse(tt, k, t_exp, cfg.in_time_ns) < 0
           and nearest_pulse(tt, k, t_exp, cfg.separate_ns) >= 0):
        a_new, t_new = missing_pulse(y, use, k, amp, tt, period_ns, shape.table, shape.t0_ns,
                                     resid)
        if a_new < cfg.threshold_adc:
            break
        for j in range(k):
            amp_keep[j] = amp[j]
            tt_keep[j] = tt[j]
        amp[k] = a_new
        tt[k] = t_new
        chi2b, used_b = fit_pulses(y, use, k + 1, amp, tt, period_ns, shape.table, shape.t0_ns,
                                   shape.peak_ns, 3 * cfg.iterations, work)  # far to go
        ok = chi2b >= 0.0 and chi2b < 0.5 * chi2
        for j in range(k + 1):
            ok &= cfg.threshold_adc < amp[j] < 4.0 * cfg.adc_max
        if not ok:
            for j in range(k):
                amp[j] = amp_keep[j]
                tt[j] = tt_keep[j]
            break
        pos[k] = min(max(int(round(t_new / period_ns)), 0), n_s - 1)
        k += 1
        chi2, used = chi2b, used_b
    return k, chi2, used


@njit(cache=True, nogil=True, inline="always")
def in_time_pulse(amp, tt, k, t_exp, in_time_ns):
    """The pulse closest to the expected time within ``in_time_ns`` (-1: none), the other
    pulses' summed positive amplitude, and the distance from it to the nearest other one."""
    best_j = nearest_pulse(tt, k, t_exp, in_time_ns)
    other = 0.0
    for j in range(k):
        if j != best_j and amp[j] > 0.0:
            other += amp[j]
    near = np.inf
    if best_j >= 0:
        for j in range(k):
            if j != best_j:
                near = min(near, abs(tt[j] - tt[best_j]))
    return best_j, other, near


@njit(cache=True, nogil=True)
def reconstruct_channels(samples, channels, t_expected_ns, missing, source_bit, ped_ref,
                         time_offset_ns, side_band, shape, cfg, out):
    """For every event and each of ``channels`` (the ones whose pulses have ``shape``), what
    :class:`ChannelOutputs` holds. ``t_expected_ns[event]``
    is where an in-time pulse of a channel with zero ``time_offset_ns`` peaks; ``missing[event]``
    has bit ``source_bit[channel]`` set when that channel's source did not deliver the event;
    ``ped_ref`` holds the running pedestals (channels x even/odd). For the channels with
    ``side_band[channel]``, the side-band amplitude is that of an in-time pulse
    ``side_shift_ns`` later (within ``side_window_ns``): the fits do not depend on the expected
    time, so this is the same as reconstructing again with a shifted one."""
    n_ev, _, n_s = samples.shape
    period_ns = shape.period_ns
    max_pulses = cfg.max_pulses
    threshold = cfg.threshold_adc
    y = np.empty(n_s)
    peeled = np.empty(n_s)
    use = np.empty(n_s, np.bool_)
    scratch = max(max_pulses, 2) + 2  # the two-pulse trial keeps its winner in slots 2 and 3
    pos = np.empty(scratch, np.int64)
    amp = np.empty(scratch)
    tt = np.empty(scratch)
    amp_keep = np.empty(scratch)  # a fit's pulses while a trial with one more is made
    tt_keep = np.empty(scratch)
    # the fit's normal equations, steps, best point, Jacobian and residuals
    work = np.empty((2 * max_pulses + 4) ** 2 + (2 * max_pulses + 1) * n_s)
    limit = cfg.chi2_max * cfg.noise_adc * cfg.noise_adc
    weights = np.empty(n_s)
    for e in range(n_ev):
        w_time = np.nan  # the forced-amplitude weights in ``weights`` are for this time
        w_first = 0
        w_n = 0
        for c in channels:
            out.nearest_ns[e, c] = np.inf
            out.n_pulses[e, c] = 0
            out.out_of_time_adc[e, c] = 0.0
            out.side_amplitude_adc[e, c] = 0.0
            w = samples[e, c]
            lost = (missing[e] >> source_bit[c]) & 1
            lo_v, hi_v = window_extremes(w)
            if lost or lo_v == hi_v:  # not delivered, or flat
                out.amplitude_adc[e, c] = 0.0
                out.time_ns[e, c] = np.nan
                out.pedestal_adc[e, c, 0] = np.nan
                out.pedestal_adc[e, c, 1] = np.nan
                out.flags[e, c] = (MISSING if lost else BAD_CHANNEL) | NO_PULSE
                continue
            pe, po, fell_back = even_odd_pedestal(
                w, cfg.pedestal_half, ped_ref[c, 0], ped_ref[c, 1], cfg.pedestal_max_dev_adc,
                cfg.pedestal_max_shift_adc)
            flags = PEDESTAL_FALLBACK if fell_back else 0
            out.pedestal_adc[e, c, 0] = pe
            out.pedestal_adc[e, c, 1] = po
            t_exp = t_expected_ns[e] + time_offset_ns[c]
            side_t = t_exp + cfg.side_shift_ns
            out.time_ns[e, c] = np.nan
            if hi_v - max(pe, po) < threshold:  # nothing can rise above threshold
                if t_exp != w_time:
                    w_time = t_exp
                    w_first, w_n = forced_weights(t_exp, n_s, period_ns, shape.forced_table,
                                                  shape.forced_t0_ns, weights)
                out.amplitude_adc[e, c] = weighted_amplitude(w, pe, po, w_first, w_n, weights)
                if side_band[c]:
                    out.side_amplitude_adc[e, c] = forced_at(
                        w, pe, po, side_t, period_ns, shape.forced_table, shape.forced_t0_ns,
                        weights)
                    w_time = np.nan
                out.flags[e, c] = flags | NO_PULSE
                continue
            out.amplitude_adc[e, c] = 0.0
            saturated = hi_v >= cfg.adc_max
            for i in range(n_s):
                y[i] = w[i] - (pe if i % 2 == 0 else po)
                use[i] = w[i] < cfg.adc_max
            if saturated:
                flags |= SATURATED
            n_found = find_peaks(y, threshold, pos, max_pulses)
            if n_found == 0:
                w_time = np.nan
                out.amplitude_adc[e, c] = forced_at(w, pe, po, t_exp, period_ns,
                                                    shape.forced_table, shape.forced_t0_ns,
                                                    weights)
                if side_band[c]:
                    out.side_amplitude_adc[e, c] = forced_at(
                        w, pe, po, side_t, period_ns, shape.forced_table, shape.forced_t0_ns,
                        weights)
                out.flags[e, c] = flags | NO_PULSE
                continue
            k = min(n_found, max_pulses)
            if n_found > 1:
                flags |= PILEUP
            need_fit = first_estimates(y, use, pos, k, amp, tt, peeled, shape,
                                       cfg.separate_ns, saturated)
            if not need_fit:  # is the table's answer as good as a fit would be?
                chi2, used = estimates_chi2(y, use, k, amp, tt, shape)
                need_fit = chi2 > limit * max(used, 1)
            if need_fit:
                chi2, used = fit_pulses(y, use, k, amp, tt, period_ns, shape.table,
                                        shape.t0_ns, shape.peak_ns,
                                        cfg.iterations if not saturated else 3 * cfg.iterations,
                                        work)
                if k == 1 and used > 2 and chi2 > limit * used and k < max_pulses:
                    k = try_two_pulses(y, use, amp, tt, pos, chi2, shape, threshold,
                                       cfg.iterations, work)
                    if k == 2:
                        flags |= PILEUP
                k_before = k
                k, chi2, used = add_hidden_pulses(y, use, k, amp, tt, pos, chi2, used, t_exp,
                                                  shape, cfg, limit, work, amp_keep, tt_keep,
                                                  peeled)
                if k > k_before:
                    flags |= PILEUP
                for j in range(k):  # a fit that ran away is no better than failed
                    if not -threshold < amp[j] < 4.0 * cfg.adc_max:
                        chi2 = -1.0
                if chi2 < 0.0:  # the fit failed: the highest samples and the first guesses
                    flags |= FIT_FAILED
                    for j in range(k):
                        amp[j] = y[pos[j]]
                        tt[j] = pos[j] * period_ns
            out.n_pulses[e, c] = k
            best_j, other, near = in_time_pulse(amp, tt, k, t_exp, cfg.in_time_ns)
            if side_band[c]:
                j = nearest_pulse(tt, k, side_t, cfg.side_window_ns)
                if j >= 0:
                    out.side_amplitude_adc[e, c] = amp[j]
            out.out_of_time_adc[e, c] = other
            if best_j < 0:
                flags |= OUT_OF_TIME
            else:
                out.amplitude_adc[e, c] = amp[best_j]
                out.time_ns[e, c] = tt[best_j]
                out.nearest_ns[e, c] = near
            out.flags[e, c] = flags


@njit(cache=True, nogil=True)
def reconstruct_groups(samples, channels, first, t_expected_ns, missing, source_bit, ped_ref,
                       time_offset_ns, side_band, shapes, cfg, out):
    """:func:`reconstruct_channels` for each group of channels with its own template:
    ``channels[first[g]:first[g + 1]]`` have shape ``g`` of ``shapes``. One call from Python
    per batch, whatever the number of learnt templates (a call per template cost 28 us each:
    half the throughput with 126)."""
    for g in range(first.shape[0] - 1):
        shape = PulseShape(shapes.tables[g, :shapes.table_length[g]], shapes.t0_ns[g],
                           shapes.forced_tables[g, :shapes.forced_length[g]],
                           shapes.forced_t0_ns[g], shapes.period_ns,
                           shapes.luts[g], shapes.lut_r0[g],
                           shapes.lut_step[g], shapes.peak_ns[g])
        reconstruct_channels(samples, channels[first[g]:first[g + 1]], t_expected_ns, missing,
                             source_bit, ped_ref, time_offset_ns, side_band, shape, cfg, out)
