"""The template fit: amplitudes and peak times of k pulses by Gauss-Newton on the samples around
them (saturated samples left out), its residual chi2, and where a pulse the search missed would
sit."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from daq.core.pulse_shape import STEP_NS
from daq.reco.pulse.template import table_at, template_at, template_support

#: Samples after a pulse's peak that its fit uses (the tail beyond adds noise, not information).
FIT_SAMPLES_AFTER_PEAK = 5
#: The template fit stops when no peak time moves by more than this in an iteration (a thirtieth
#: of the best time resolution; the amplitudes have settled by then too).
CONVERGED_NS = 0.01


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
