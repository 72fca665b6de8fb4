"""Amplitudes where no pulse was found: the template's weights at the expected time (a forced
amplitude, unbiased for noise), and the pulse nearest a time."""

from __future__ import annotations

from numba import njit

from daq.reco.pulse.template import template_at, template_support


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
