"""Per channel: even/odd pedestals, pulse finding and the template fit, as one numba kernel over
a batch (events x channels x samples).

Every pulse above threshold is found (peak detection with a prominence, so noise on a big
pulse's tail is not a pulse); a single pulse gets a two-parameter (amplitude, time) template fit
by Gauss-Newton, which needs only the samples around the peak; only channels with several
pulses, or whose single-pulse fit is poor, get the multi-pulse fit. Saturated samples are left
out of the fit, so a saturated pulse's amplitude comes from its unsaturated edges.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from daq.core.pulse_shape import STEP_NS

# channel flags (bits)
NO_PULSE = 1
SATURATED = 2
PILEUP = 4
PEDESTAL_FALLBACK = 8
BAD_CHANNEL = 16  # flat: all zero, all full scale, or constant
MISSING = 32  # its readout source did not deliver this event
FIT_FAILED = 64
OUT_OF_TIME = 128  # pulses, but none in time

FLAG_NAMES = {NO_PULSE: "no_pulse", SATURATED: "saturated", PILEUP: "pileup",
              PEDESTAL_FALLBACK: "pedestal_fallback", BAD_CHANNEL: "bad_channel",
              MISSING: "missing", FIT_FAILED: "fit_failed", OUT_OF_TIME: "out_of_time"}

#: Samples after a pulse's peak that its fit uses (the tail beyond adds noise, not information).
FIT_SAMPLES_AFTER_PEAK = 5
#: The template fit stops when no peak time moves by more than this in an iteration (a thirtieth
#: of the best time resolution; the amplitudes have settled by then too).
CONVERGED_NS = 0.01
#: A pulse's tail is subtracted from the next pulses up to this long after its peak (the
#: template has fallen below 1e-3 of its peak by then).
PEEL_NS = 100.0


@njit(cache=True, nogil=True, inline="always")
def table_at(table, x):
    """Template value and slope (per ns) at table position ``x`` (steps from the first entry;
    linear interpolation, zero outside): for loops that step through the table at a known
    stride."""
    if x < 0.0 or x >= table.shape[0] - 1:
        return 0.0, 0.0
    j = int(x)
    f = x - j
    a = table[j]
    b = table[j + 1]
    return a + f * (b - a), (b - a) / STEP_NS


@njit(cache=True, nogil=True, inline="always")
def template_at(table, t0_ns, dt_ns):
    """Template value and slope (per ns) at ``dt_ns`` from the peak (linear interpolation)."""
    return table_at(table, (dt_ns - t0_ns) / STEP_NS)


@njit(cache=True, nogil=True, inline="always")
def template_support(table, t0_ns, t_ns, period_ns, n_s):
    """The samples ``lo..hi-1`` where a pulse peaking at ``t_ns`` can be non-zero
    (``template_at``): loops over them skip only exact zeros."""
    lo = int(math.floor((t_ns + t0_ns) / period_ns))
    hi = int(math.ceil((t_ns + t0_ns + (table.shape[0] - 1) * STEP_NS) / period_ns)) + 1
    return min(max(lo, 0), n_s), min(max(hi, 0), n_s)


def phase_table(table: np.ndarray, t0_ns: float, period_ns: float, size: int = 1024
                ) -> tuple[np.ndarray, float, float]:
    """Lookup table from r = (y[p+1] - y[p-1]) / y[p] around a pulse's highest sample p to the
    peak's offset from that sample (ns): the template fit's answer for a clean pulse, without
    iterations. Returns (offsets on a uniform grid of r, r of the first entry, r step)."""
    psi = np.linspace(0.0, period_ns, 4001)[:-1]
    i = np.arange(-4, 9)
    r_list, d_list = [], []
    for ph in psi:
        dt = i * period_ns - ph
        x = (dt - t0_ns) / STEP_NS
        v = np.interp(x, np.arange(len(table)), table, left=0.0, right=0.0)
        top = int(np.argmax(v))
        r_list.append((v[top + 1] - v[top - 1]) / v[top])
        d_list.append(ph - i[top] * period_ns)
    r, d = np.array(r_list), np.array(d_list)
    order = np.argsort(r)
    r, d = r[order], d[order]
    grid = np.linspace(r[0], r[-1], size)
    return np.interp(grid, r, d), float(grid[0]), float(grid[1] - grid[0])


@njit(cache=True, nogil=True, inline="always")
def lut_estimate(y, p, lut, r0, r_step, period_ns, table, t0_ns):
    """Amplitude and peak time of a clean pulse whose highest sample is ``p`` (0 < p < n-1)."""
    r = (y[p + 1] - y[p - 1]) / y[p]
    x = (r - r0) / r_step
    n = lut.shape[0]
    if x <= 0.0:
        d = lut[0]
    elif x >= n - 1:
        d = lut[n - 1]
    else:
        j = int(x)
        d = lut[j] + (x - j) * (lut[j + 1] - lut[j])
    t = p * period_ns + d
    s_ty = 0.0
    s_tt = 0.0
    for i in range(max(0, p - 1), min(y.shape[0], p + 3)):
        f, _ = template_at(table, t0_ns, i * period_ns - t)
        s_ty += f * y[i]
        s_tt += f * f
    return (s_ty / s_tt if s_tt > 0.0 else y[p]), t


@njit(cache=True, nogil=True)
def find_peaks(y, threshold, out_pos, max_peaks):
    """Peak detection with prominence ``threshold`` (Billauer's peakdet): writes the sample
    index of each maximum to ``out_pos``; returns how many were found (may exceed
    ``max_peaks``, only the first ``max_peaks`` are written)."""
    n = 0
    mx = -1e30
    mn = 0.0  # the pedestal-subtracted baseline: a pulse must rise from it
    mx_pos = 0
    look_for_max = True
    for i in range(y.shape[0]):
        v = y[i]
        if v > mx:
            mx = v
            mx_pos = i
        if v < mn:
            mn = v
        if look_for_max:
            if v < mx - threshold and mx - mn >= threshold and mx >= threshold:
                if n < max_peaks:
                    out_pos[n] = mx_pos
                n += 1
                mn = v
                look_for_max = False
        elif v > mn + threshold:
            mx = v
            mx_pos = i
            look_for_max = True
    if look_for_max and mx >= threshold and mx - mn >= threshold:  # still rising at the end
        if n < max_peaks:
            out_pos[n] = mx_pos
        n += 1
    return n


@njit(cache=True, nogil=True)
def solve_in_place(a, b):
    """Solves a x = b for a small symmetric positive-definite ``a`` by Cholesky, without
    allocating (LAPACK's call costs more than the solve at these sizes); x replaces b. False
    when ``a`` is not positive definite."""
    m = a.shape[0]
    for j in range(m):
        s = a[j, j]
        for q in range(j):
            s -= a[j, q] * a[j, q]
        if not s > 0.0:
            return False
        a[j, j] = math.sqrt(s)
        for i in range(j + 1, m):
            s = a[i, j]
            for q in range(j):
                s -= a[i, q] * a[j, q]
            a[i, j] = s / a[j, j]
    for i in range(m):  # L z = b
        s = b[i]
        for q in range(i):
            s -= a[i, q] * b[q]
        b[i] = s / a[i, i]
    for i in range(m - 1, -1, -1):  # L^T x = z
        s = b[i]
        for q in range(i + 1, m):
            s -= a[q, i] * b[q]
        b[i] = s / a[i, i]
    return True


@njit(cache=True, nogil=True)
def _residual_chi2(y, use, k, amp, t, lo, hi, period_ns, table, t0_ns):
    """Sum of squared residuals (ADC^2) of ``k`` template pulses over samples lo..hi."""
    chi2 = 0.0
    used = 0
    for i in range(max(0, lo), min(y.shape[0], hi)):
        if not use[i]:
            continue
        r = y[i]
        for j in range(k):
            f, _ = template_at(table, t0_ns, i * period_ns - t[j])
            r -= amp[j] * f
        chi2 += r * r
        used += 1
    return chi2, used


@njit(cache=True, nogil=True, inline="always")
def _step_2(y, use, lo, hi, amp, t, period_ns, table, t0_ns):
    """One Gauss-Newton step of two pulses, the 4x4 normal equations and their Cholesky
    solution in registers (the usual overlap; the general path costs twice as much). Returns
    (ok, chi2 at the current parameters, d amp0, d amp1, d t0, d t1); the same arithmetic as
    the general path."""
    a00 = a01 = a02 = a03 = a11 = a12 = a13 = a22 = a23 = a33 = 0.0
    b0 = b1 = b2 = b3 = 0.0
    chi2 = 0.0
    # the template read at a constant stride from each pulse's first sample: no division per
    # sample
    x0 = (lo * period_ns - t[0] - t0_ns) / STEP_NS
    x1 = (lo * period_ns - t[1] - t0_ns) / STEP_NS
    stride = period_ns / STEP_NS
    for i in range(lo, hi):
        if not use[i]:
            x0 += stride
            x1 += stride
            continue
        f0, d0 = table_at(table, x0)
        f1, d1 = table_at(table, x1)
        x0 += stride
        x1 += stride
        g0 = -amp[0] * d0
        g1 = -amp[1] * d1
        r = y[i] - amp[0] * f0 - amp[1] * f1
        chi2 += r * r
        b0 += f0 * r
        b1 += f1 * r
        b2 += g0 * r
        b3 += g1 * r
        a00 += f0 * f0
        a01 += f0 * f1
        a02 += f0 * g0
        a03 += f0 * g1
        a11 += f1 * f1
        a12 += f1 * g0
        a13 += f1 * g1
        a22 += g0 * g0
        a23 += g0 * g1
        a33 += g1 * g1
    a00 += 1e-9 * (a00 + 1.0)  # keeps a degenerate pair solvable
    a11 += 1e-9 * (a11 + 1.0)
    a22 += 1e-9 * (a22 + 1.0)
    a33 += 1e-9 * (a33 + 1.0)
    # Cholesky, L (l_ij) by rows
    if not a00 > 0.0:
        return False, chi2, 0.0, 0.0, 0.0, 0.0
    l00 = math.sqrt(a00)
    l10 = a01 / l00
    l20 = a02 / l00
    l30 = a03 / l00
    s = a11 - l10 * l10
    if not s > 0.0:
        return False, chi2, 0.0, 0.0, 0.0, 0.0
    l11 = math.sqrt(s)
    l21 = (a12 - l20 * l10) / l11
    l31 = (a13 - l30 * l10) / l11
    s = a22 - l20 * l20 - l21 * l21
    if not s > 0.0:
        return False, chi2, 0.0, 0.0, 0.0, 0.0
    l22 = math.sqrt(s)
    l32 = (a23 - l30 * l20 - l31 * l21) / l22
    s = a33 - l30 * l30 - l31 * l31 - l32 * l32
    if not s > 0.0:
        return False, chi2, 0.0, 0.0, 0.0, 0.0
    l33 = math.sqrt(s)
    z0 = b0 / l00  # L z = b
    z1 = (b1 - l10 * z0) / l11
    z2 = (b2 - l20 * z0 - l21 * z1) / l22
    z3 = (b3 - l30 * z0 - l31 * z1 - l32 * z2) / l33
    x3 = z3 / l33  # L^T x = z
    x2 = (z2 - l32 * x3) / l22
    x1 = (z1 - l21 * x2 - l31 * x3) / l11
    x0 = (z0 - l10 * x1 - l20 * x2 - l30 * x3) / l00
    return True, chi2, x0, x1, x2, x3


@njit(cache=True, nogil=True)
def missing_pulse(y, use, k, amp, t, period_ns, table, t0_ns, resid):
    """Where ``k`` template pulses leave the most of ``y`` unexplained: the amplitude and peak
    time of the template that best matches the residual (``resid``, filled here) around its
    largest sample, on a half-sample grid from one sample before it to two after (the largest
    residual of a hidden pulse is often on its rising edge)."""
    n_s = y.shape[0]
    for i in range(n_s):
        resid[i] = y[i]
    for j in range(k):  # each pulse over its template's support only
        lo, hi = template_support(table, t0_ns, t[j], period_ns, n_s)
        for i in range(lo, hi):
            f, _ = template_at(table, t0_ns, i * period_ns - t[j])
            resid[i] -= amp[j] * f
    i_max = 0
    for i in range(n_s):
        if not use[i]:
            resid[i] = 0.0
        if resid[i] > resid[i_max]:
            i_max = i
    best_a = 0.0
    best_t = i_max * period_ns
    best_score = 0.0
    for step in range(-2, 5):
        tc = (i_max + 0.5 * step) * period_ns
        s_rf = 0.0
        s_ff = 0.0
        lo, hi = template_support(table, t0_ns, tc, period_ns, n_s)
        for i in range(lo, hi):
            f, _ = template_at(table, t0_ns, i * period_ns - tc)
            s_rf += resid[i] * f
            s_ff += f * f
        if s_ff > 0.0 and s_rf > 0.0 and s_rf * s_rf / s_ff > best_score:
            best_score = s_rf * s_rf / s_ff
            best_a = s_rf / s_ff
            best_t = tc
    return best_a, best_t


@njit(cache=True, nogil=True)
def fit_pulses(y, use, k, amp, t, period_ns, table, t0_ns, peak_ns, iterations, work):
    """Gauss-Newton fit of ``k`` template pulses (amplitudes ``amp``, peak times ``t`` in ns
    from the window start, both refined in place) to ``y`` where ``use``. Returns chi2 (ADC^2)
    and the number of samples used; chi2 < 0 when the fit failed. ``work``: a 1-d scratch
    buffer of at least (2 k + 2)^2 + 4 k + (2 k + 1) n for ``n`` samples.

    On two overlapping pulses (template and time derivative nearly collinear) Gauss-Newton
    jumps about before it settles, and those jumps are what reach the right pair (damped or
    halved steps stayed near the first guess): it keeps going, and the fit ends at the best
    point it visited."""
    n_s = y.shape[0]
    lo = n_s
    hi = 0
    for j in range(k):
        lo = min(lo, max(0, int(math.floor((t[j] - peak_ns) / period_ns))))
        hi = max(hi, min(n_s, int(math.ceil(t[j] / period_ns)) + FIT_SAMPLES_AFTER_PEAK + 1))
    m = 2 * k
    # ``work``: the normal equations (general path), then the step, the best point, and the
    # general path's Jacobian and residuals
    base = (m + 2) * (m + 2)
    step = work[base:base + m]
    best = work[base + m:base + 2 * m]  # amp, t of the best chi2
    base += 2 * m
    best_chi2 = np.inf
    for _ in range(iterations):
        if k == 1:  # the common case, solved by hand
            s_ff = s_fg = s_gg = s_fr = s_gr = chi2 = 0.0
            for i in range(lo, hi):
                if not use[i]:
                    continue
                f, d = template_at(table, t0_ns, i * period_ns - t[0])
                g = -amp[0] * d
                r = y[i] - amp[0] * f
                chi2 += r * r
                s_ff += f * f
                s_fg += f * g
                s_gg += g * g
                s_fr += f * r
                s_gr += g * r
            det = s_ff * s_gg - s_fg * s_fg
            ok = det > 1e-12 * (s_ff * s_gg + 1e-30)
            if ok:
                step[0] = (s_gg * s_fr - s_fg * s_gr) / det
                step[1] = (s_ff * s_gr - s_fg * s_fr) / det
        elif k == 2:  # the usual overlap
            ok, chi2, step[0], step[1], step[2], step[3] = _step_2(
                y, use, lo, hi, amp, t, period_ns, table, t0_ns)
        else:
            # contiguous views of the scratch buffer: strided ones cost more than the sums
            jtj = work[:m * m].reshape((m, m))
            jtr = work[m * m:m * m + m]
            # the Jacobian by columns and the residuals, then each sum over samples in one
            # loop (in registers; accumulating every entry sample by sample went through
            # memory): the same sums in the same order
            n_fit = hi - lo
            jac = work[base:base + m * n_fit].reshape((m, n_fit))
            res = work[base + m * n_fit:base + (m + 1) * n_fit]
            chi2 = 0.0
            n_u = 0
            for i in range(lo, hi):
                if not use[i]:
                    continue
                r = y[i]
                for j in range(k):
                    f, d = template_at(table, t0_ns, i * period_ns - t[j])
                    jac[j, n_u] = f
                    jac[k + j, n_u] = -amp[j] * d
                    r -= amp[j] * f
                res[n_u] = r
                chi2 += r * r
                n_u += 1
            for p in range(m):
                acc = 0.0
                for u in range(n_u):
                    acc += jac[p, u] * res[u]
                jtr[p] = acc
                for q in range(p, m):  # the upper triangle; mirrored below
                    acc = 0.0
                    for u in range(n_u):
                        acc += jac[p, u] * jac[q, u]
                    jtj[p, q] = acc
            for p in range(m):
                jtj[p, p] += 1e-9 * (jtj[p, p] + 1.0)  # keeps a degenerate pair solvable
                for q in range(p):
                    jtj[p, q] = jtj[q, p]
            ok = solve_in_place(jtj, jtr)
            for p in range(m):
                step[p] = jtr[p]
        if not ok:
            if best_chi2 == np.inf:
                return -1.0, 0
            break  # run off where the pulses explain nothing: the best so far stands
        if chi2 <= best_chi2:
            best_chi2 = chi2
            for j in range(k):
                best[j] = amp[j]
                best[k + j] = t[j]
        moved = 0.0
        for j in range(k):
            amp[j] += step[j]
            # a pulse that peaked before the window shows only its tail, which fits as well
            # further back with a larger amplitude, without end: it stays a sample before
            t[j] = max(t[j] + max(-period_ns, min(period_ns, step[k + j])), -period_ns)
            moved = max(moved, abs(step[k + j]))
        if moved < CONVERGED_NS:
            break
    chi2, used = _residual_chi2(y, use, k, amp, t, lo, hi, period_ns, table, t0_ns)
    if not chi2 <= best_chi2:  # the last step was never checked
        for j in range(k):
            amp[j] = best[j]
            t[j] = best[k + j]
        chi2 = best_chi2
    for j in range(k):
        if not (math.isfinite(amp[j]) and math.isfinite(t[j])):
            return -1.0, used
    return chi2, used


@njit(cache=True, nogil=True, inline="always")
def forced_weights(t_ns, n_s, period_ns, table, t0_ns, weights):
    """Least-squares weights of a pulse at the known time ``t_ns`` for a channel where none
    rose above threshold, ``table`` the template smeared by the time spread of such small
    pulses (``PulseTemplate.smeared``): its amplitude is ``sum(weights[i] * y[first + i])``
    over the pedestal-subtracted samples. Unbiased (noise averages out, and so does the
    timing), so the small cells at a shower's edge still add to the sums. Returns ``first``
    and the number of weights; they depend on the time only, so a batch computes them once
    per event and time offset."""
    first = n_s
    n = 0
    s_tt = 0.0
    lo, hi = template_support(table, t0_ns, t_ns, period_ns, n_s)
    for i in range(lo, hi):
        f, _ = template_at(table, t0_ns, i * period_ns - t_ns)
        if f > 0.0:
            first = min(first, i)
            weights[i - first] = f
            n = i - first + 1
            s_tt += f * f
    for i in range(n):
        weights[i] = weights[i] / s_tt if s_tt > 0.0 else 0.0
    return first, n


@njit(cache=True, nogil=True, inline="always")
def nearest_pulse(tt, k, t_ns, window_ns):
    """Index of the pulse nearest ``t_ns`` among the first ``k`` (peak times ``tt``), if within
    ``window_ns``; -1 otherwise."""
    best_j = -1
    best_d = window_ns
    for j in range(k):
        d = abs(tt[j] - t_ns)
        if d <= best_d:
            best_d = d
            best_j = j
    return best_j


@njit(cache=True, nogil=True, inline="always")
def weighted_amplitude(w, pe, po, first, n, weights):
    """``sum(weights[i] * y[first + i])`` of the raw samples ``w`` less their pedestals."""
    a = 0.0
    for i in range(n):
        q = first + i
        a += weights[i] * (w[q] - (pe if q % 2 == 0 else po))
    return a


@njit(cache=True, nogil=True, inline="always")
def forced_at(w, pe, po, t_ns, period_ns, table, t0_ns, weights):
    """The forced amplitude (``forced_weights``) at ``t_ns``, computed afresh."""
    first, n = forced_weights(t_ns, w.shape[0], period_ns, table, t0_ns, weights)
    return weighted_amplitude(w, pe, po, first, n, weights)


@njit(cache=True, nogil=True)
def running_pedestals(trigger, flags, pedestal_adc, random_trigger, weight, ped_ref):
    """Moves ``ped_ref`` (channels x even/odd, in place) towards the pedestals that the
    ``random_trigger`` events of a batch measured in channels flagged nothing but
    ``NO_PULSE``, each such event with ``weight``."""
    n_ch = ped_ref.shape[0]
    n = np.zeros(n_ch, np.int64)
    total = np.zeros((n_ch, 2))
    for ev in range(trigger.shape[0]):
        if trigger[ev] != random_trigger:
            continue
        for c in range(n_ch):
            if (flags[ev, c] | NO_PULSE) == NO_PULSE:  # nothing flagged but no_pulse
                n[c] += 1
                total[c, 0] += pedestal_adc[ev, c, 0]
                total[c, 1] += pedestal_adc[ev, c, 1]
    for c in range(n_ch):
        if n[c] > 0:
            keep = (1.0 - weight) ** n[c]
            for p in range(2):
                ped_ref[c, p] = keep * ped_ref[c, p] + (1.0 - keep) * total[c, p] / n[c]


@njit(cache=True, nogil=True)
def reconstruct_channels(samples, t_expected_ns, missing, source_bit, ped_ref, time_offset_ns,
                         table, t0_ns, forced_table, forced_t0_ns, period_ns, lut, lut_r0,
                         lut_step, adc_max, ped_samples, ped_max_dev, ped_max_shift, threshold,
                         max_pulses, iterations, chi2_max, noise_adc, peak_ns, in_time_ns,
                         separate_ns, side_band, side_shift_ns, side_window_ns, amp_out, time_out,
                         out_of_time_out, nearest_out, n_pulses_out, flags_out, ped_out,
                         side_amp_out):
    """For every event and channel: the in-time pulse's amplitude (ADC) and peak time (ns from
    the window start), the summed amplitude of the other pulses, the distance (ns) from the
    in-time pulse to the nearest other one, the number of pulses, the flags and the pedestal
    used (even, odd). ``t_expected_ns[event]`` is where an in-time pulse of a channel with zero
    ``time_offset_ns`` peaks; ``missing[event]`` has bit ``source_bit[channel]`` set when that
    channel's source did not deliver the event. For the channels with ``side_band[channel]``,
    ``side_amp_out`` is the amplitude that an in-time pulse would have ``side_shift_ns`` later
    (within ``side_window_ns``): a side band far from the in-time peak, for accidental rates;
    the fits do not depend on the expected time, so this is the same as reconstructing again
    with a shifted one. Elsewhere it is 0. ``forced_table`` (first entry at ``forced_t0_ns``) is
    the template smeared for the amplitudes of channels without a pulse (``forced_weights``).

    Cost is spent where it is needed: a channel without a pulse is two passes over its samples;
    a clean single pulse is read from the phase table; pulses closer than ``separate_ns``, a
    saturated pulse or a poor match get the iterative template fit."""
    n_ev, n_ch, n_s = samples.shape
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
    limit = chi2_max * noise_adc * noise_adc
    half = ped_samples // 2
    weights = np.empty(n_s)
    for e in range(n_ev):
        w_time = np.nan  # the forced-amplitude weights in ``weights`` are for this time
        w_first = 0
        w_n = 0
        for c in range(n_ch):
            flags = 0
            nearest_out[e, c] = np.inf
            n_pulses_out[e, c] = 0
            out_of_time_out[e, c] = 0.0
            side_amp_out[e, c] = 0.0
            if (missing[e] >> source_bit[c]) & 1:
                amp_out[e, c] = 0.0
                time_out[e, c] = np.nan
                ped_out[e, c, 0] = np.nan
                ped_out[e, c, 1] = np.nan
                flags_out[e, c] = MISSING | NO_PULSE
                continue
            w = samples[e, c]
            # pedestals, even and odd samples apart, and the window's extremes
            pe = 0.0
            po = 0.0
            for i in range(half):
                pe += w[2 * i]
                po += w[2 * i + 1]
            pe /= half
            po /= half
            lo_v = w[0]
            hi_v = w[0]
            for i in range(n_s):
                lo_v = min(lo_v, w[i])
                hi_v = max(hi_v, w[i])
            if lo_v == hi_v:
                amp_out[e, c] = 0.0
                time_out[e, c] = np.nan
                ped_out[e, c, 0] = np.nan
                ped_out[e, c, 1] = np.nan
                flags_out[e, c] = BAD_CHANNEL | NO_PULSE
                continue
            dev = 0.0
            for i in range(half):
                dev = max(dev, abs(w[2 * i] - pe), abs(w[2 * i + 1] - po))
            ref_e = ped_ref[c, 0]
            ref_o = ped_ref[c, 1]
            if math.isfinite(ref_e) and (abs(pe - ref_e) > ped_max_shift
                                         or abs(po - ref_o) > ped_max_shift):
                dev = ped_max_dev + 1.0
            if dev > ped_max_dev:  # a pulse sits early in the window
                flags |= PEDESTAL_FALLBACK
                if math.isfinite(ref_e):
                    pe = ref_e
                    po = ref_o
            ped_out[e, c, 0] = pe
            ped_out[e, c, 1] = po
            t_exp = t_expected_ns[e] + time_offset_ns[c]
            time_out[e, c] = np.nan
            if hi_v - max(pe, po) < threshold:  # nothing can rise above threshold
                if t_exp != w_time:
                    w_time = t_exp
                    w_first, w_n = forced_weights(t_exp, n_s, period_ns, forced_table,
                                                  forced_t0_ns, weights)
                amp_out[e, c] = weighted_amplitude(w, pe, po, w_first, w_n, weights)
                if side_band[c]:
                    side_amp_out[e, c] = forced_at(w, pe, po, t_exp + side_shift_ns, period_ns,
                                                   forced_table, forced_t0_ns, weights)
                    w_time = np.nan
                flags_out[e, c] = flags | NO_PULSE
                continue
            amp_out[e, c] = 0.0
            saturated = hi_v >= adc_max
            for i in range(n_s):
                y[i] = w[i] - (pe if i % 2 == 0 else po)
                use[i] = w[i] < adc_max
            if saturated:
                flags |= SATURATED
            n_found = find_peaks(y, threshold, pos, max_pulses)
            if n_found == 0:
                w_time = np.nan
                amp_out[e, c] = forced_at(w, pe, po, t_exp, period_ns, forced_table, forced_t0_ns,
                                          weights)
                if side_band[c]:
                    side_amp_out[e, c] = forced_at(w, pe, po, t_exp + side_shift_ns, period_ns,
                                                   forced_table, forced_t0_ns, weights)
                flags_out[e, c] = flags | NO_PULSE
                continue
            k = min(n_found, max_pulses)
            if n_found > 1:
                flags |= PILEUP
            # first estimates: the phase table, peeling each pulse off before the next
            need_fit = saturated
            for i in range(n_s):
                peeled[i] = y[i]
            for j in range(k):
                p = pos[j]
                if 0 < p < n_s - 1 and peeled[p] > 0.0 and use[p]:
                    amp[j], tt[j] = lut_estimate(peeled, p, lut, lut_r0, lut_step, period_ns,
                                                 table, t0_ns)
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
                    lo_i = max(0, int((tt[j] + t0_ns) / period_ns))
                    hi_i = min(n_s, int((tt[j] + PEEL_NS) / period_ns) + 1)
                    for i in range(lo_i, hi_i):
                        f, _ = template_at(table, t0_ns, i * period_ns - tt[j])
                        peeled[i] -= amp[j] * f
            if not need_fit:  # is the table's answer as good as a fit would be?
                lo_f = int(math.floor((tt[0] - peak_ns) / period_ns))
                hi_f = int(math.ceil(tt[k - 1] / period_ns)) + FIT_SAMPLES_AFTER_PEAK + 1
                chi2, used = _residual_chi2(y, use, k, amp, tt, lo_f, hi_f, period_ns, table,
                                            t0_ns)
                need_fit = chi2 > limit * max(used, 1)
            if need_fit:
                chi2, used = fit_pulses(y, use, k, amp, tt, period_ns, table, t0_ns, peak_ns,
                                        iterations if not saturated else 3 * iterations, work)
                if k == 1 and used > 2 and chi2 > limit * used and k < max_pulses:
                    # a poor single fit: two overlapping pulses? try one more beside it
                    a0 = amp[0]
                    t1 = tt[0]
                    best = chi2
                    for side in (-1.0, 1.0):
                        amp[0] = 0.6 * a0
                        tt[0] = t1
                        amp[1] = 0.4 * a0
                        tt[1] = t1 + side * period_ns
                        chi2b, _ = fit_pulses(y, use, 2, amp, tt, period_ns, table, t0_ns,
                                              peak_ns, iterations, work)
                        if (chi2b >= 0.0 and chi2b < 0.5 * best and amp[0] > threshold
                                and amp[1] > threshold):
                            best = chi2b
                            amp[2] = amp[0]
                            amp[3] = amp[1]
                            tt[2] = tt[0]
                            tt[3] = tt[1]
                            k = 2
                    if k == 2:
                        amp[0], amp[1], tt[0], tt[1] = amp[2], amp[3], tt[2], tt[3]
                        flags |= PILEUP
                        for j in range(2):  # the second pulse was not found by the search
                            pos[j] = min(max(int(round(tt[j] / period_ns)), 0), n_s - 1)
                    else:
                        amp[0] = a0
                        tt[0] = t1
                while (k > 1 and k < max_pulses and chi2 > limit * used
                       and nearest_pulse(tt, k, t_exp, in_time_ns) < 0
                       and nearest_pulse(tt, k, t_exp, separate_ns) >= 0):
                    # a poor fit of several pulses, none in time but some near it: one the
                    # search could not see (an in-time pulse on another's shoulder)? add it
                    # where the fit leaves the most, keep it if the fit gets much better
                    a_new, t_new = missing_pulse(y, use, k, amp, tt, period_ns, table, t0_ns,
                                                 peeled)
                    if a_new < threshold:
                        break
                    for j in range(k):
                        amp_keep[j] = amp[j]
                        tt_keep[j] = tt[j]
                    amp[k] = a_new
                    tt[k] = t_new
                    chi2b, used_b = fit_pulses(y, use, k + 1, amp, tt, period_ns, table, t0_ns,
                                               peak_ns, 3 * iterations, work)  # far to go
                    ok = chi2b >= 0.0 and chi2b < 0.5 * chi2
                    for j in range(k + 1):
                        ok &= threshold < amp[j] < 4.0 * adc_max
                    if not ok:
                        for j in range(k):
                            amp[j] = amp_keep[j]
                            tt[j] = tt_keep[j]
                        break
                    pos[k] = min(max(int(round(t_new / period_ns)), 0), n_s - 1)
                    k += 1
                    chi2, used = chi2b, used_b
                    flags |= PILEUP
                for j in range(k):  # a fit that ran away is no better than failed
                    if not -threshold < amp[j] < 4.0 * adc_max:
                        chi2 = -1.0
                if chi2 < 0.0:  # the fit failed: the highest samples and the first guesses
                    flags |= FIT_FAILED
                    for j in range(k):
                        amp[j] = y[pos[j]]
                        tt[j] = pos[j] * period_ns
            n_pulses_out[e, c] = k
            # the in-time pulse: the closest to the expected time, within the window
            best_j = nearest_pulse(tt, k, t_exp, in_time_ns)
            if side_band[c]:
                j = nearest_pulse(tt, k, t_exp + side_shift_ns, side_window_ns)
                if j >= 0:
                    side_amp_out[e, c] = amp[j]
            other = 0.0
            for j in range(k):
                if j != best_j and amp[j] > 0.0:
                    other += amp[j]
            out_of_time_out[e, c] = other
            if best_j < 0:
                flags |= OUT_OF_TIME
            else:
                amp_out[e, c] = amp[best_j]
                time_out[e, c] = tt[best_j]
                near = np.inf
                for j in range(k):
                    if j != best_j:
                        near = min(near, abs(tt[j] - tt[best_j]))
                nearest_out[e, c] = near
            flags_out[e, c] = flags
