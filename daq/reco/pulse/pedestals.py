"""Pedestals: a window's own, from its first samples, even and odd apart (the MSADC interleaves
two ADCs), with the running pedestals of random triggers to fall back on when a pulse sits in
those samples; and the running pedestals themselves."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from daq.reco.pulse.flags import NO_PULSE


@njit(cache=True, nogil=True, inline="always")
def window_extremes(w):
    """The lowest and highest sample of a window (equal: a flat, dead channel)."""
    lo = w[0]
    hi = w[0]
    for i in range(w.shape[0]):
        lo = min(lo, w[i])
        hi = max(hi, w[i])
    return lo, hi


@njit(cache=True, nogil=True, inline="always")
def even_odd_pedestal(w, half, ref_even, ref_odd, max_dev_adc, max_shift_adc):
    """Pedestals of one window from its first ``2 * half`` samples, even and odd apart. Falls
    back to the running pedestals (``ref_*``, NaN: none yet) when a pre-signal sample is more
    than ``max_dev_adc`` from its pedestal (a pulse sits early in the window) or the pedestals
    moved more than ``max_shift_adc`` from the running ones (a small pulse there). Returns
    (even, odd, fell_back); with no running pedestal it keeps its own, flagged all the same.
    Config: reco.pedestal.samples (= 2 * half), .max_deviation_adc, .max_shift_adc."""
    pe = 0.0
    po = 0.0
    for i in range(half):
        pe += w[2 * i]
        po += w[2 * i + 1]
    pe /= half
    po /= half
    dev = 0.0
    for i in range(half):
        dev = max(dev, abs(w[2 * i] - pe), abs(w[2 * i + 1] - po))
    if math.isfinite(ref_even) and (abs(pe - ref_even) > max_shift_adc
                                    or abs(po - ref_odd) > max_shift_adc):
        dev = max_dev_adc + 1.0
    if dev > max_dev_adc:
        if math.isfinite(ref_even):
            return ref_even, ref_odd, True
        return pe, po, True
    return pe, po, False


@njit(cache=True, nogil=True)
def quiet_pedestal_sums(trigger, flags, pedestal_adc, random_trigger, n, total):
    """Adds, in event order, the pedestals that the ``random_trigger`` events measured in
    channels flagged nothing but ``NO_PULSE`` to ``total`` (channels x even/odd), counting them
    in ``n`` (channels): a spill's sums are the same however its events were batched."""
    n_ch = total.shape[0]
    for ev in range(trigger.shape[0]):
        if trigger[ev] != random_trigger:
            continue
        for c in range(n_ch):
            if (flags[ev, c] | NO_PULSE) == NO_PULSE:  # nothing flagged but no_pulse
                n[c] += 1
                total[c, 0] += pedestal_adc[ev, c, 0]
                total[c, 1] += pedestal_adc[ev, c, 1]


@njit(cache=True, nogil=True)
def move_pedestals(n, total, weight, ped_ref):
    """Moves ``ped_ref`` (channels x even/odd, in place) towards the mean of ``total / n``,
    as ``n`` updates of ``weight`` each would."""
    for c in range(ped_ref.shape[0]):
        if n[c] > 0:
            keep = (1.0 - weight) ** n[c]
            for p in range(2):
                ped_ref[c, p] = keep * ped_ref[c, p] + (1.0 - keep) * total[c, p] / n[c]


@njit(cache=True, nogil=True)
def running_pedestals(trigger, flags, pedestal_adc, random_trigger, weight, ped_ref):
    """Moves ``ped_ref`` (channels x even/odd, in place) towards the pedestals that the
    ``random_trigger`` events of a batch measured in channels flagged nothing but
    ``NO_PULSE``, each such event with ``weight``."""
    n_ch = ped_ref.shape[0]
    n = np.zeros(n_ch, np.int64)
    total = np.zeros((n_ch, 2))
    quiet_pedestal_sums(trigger, flags, pedestal_adc, random_trigger, n, total)
    move_pedestals(n, total, weight, ped_ref)
