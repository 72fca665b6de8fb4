"""Finding pulses: local maxima that rise a threshold above the pedestal and above the valley
before them (prominence), so that noise on a big pulse's tail is not a pulse."""

from __future__ import annotations

from numba import njit


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
