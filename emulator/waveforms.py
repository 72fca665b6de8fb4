"""MSADC waveforms from energy deposits: gains, pulse shape, timing jitter, even/odd pedestals,
noise and 12-bit saturation, as one numba kernel over a batch of events and a set of channels.

Randomness here is a counter-based hash of (seed, spill, event, channel), not a stream, so that a
readout source that synthesises only its own channels produces exactly the samples it would have
produced as part of the whole detector: each source can be its own process.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from daq.core.pulse_shape import STEP_NS

#: Size of the table of standard-normal numbers that noise and jitter are drawn from (power of 2).
NOISE_BANK_SIZE = 1 << 20


def noise_bank(seed: int) -> np.ndarray:
    """Standard-normal numbers; a channel's noise is read at a hashed offset into this table."""
    return np.random.default_rng(seed).standard_normal(NOISE_BANK_SIZE).astype(np.float32)


@njit(cache=True, nogil=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a well-spread 64-bit hash of ``x``."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True)
def synthesize(out: np.ndarray, channels: np.ndarray, key: np.uint64, event_numbers: np.ndarray,
               offsets: np.ndarray, part_time_ns: np.ndarray, dep_gev: np.ndarray,
               adc_per_gev: np.ndarray, event_gain: np.ndarray, event_saturation: np.ndarray,
               phase_ns: np.ndarray, pedestal: np.ndarray, noise_adc: float, bank: np.ndarray,
               tables: np.ndarray, table_t0_ns: float, period_ns: float, trigger_offset_ns: float,
               jitter_ns: float, jitter_adc_ns: float, adc_max: int) -> None:
    """Fill ``out[event, k, sample]`` (uint16) for global channels ``channels[k]``.

    A particle's pulse peaks at ``trigger_offset_ns + phase_ns[event] + part_time_ns`` plus a
    jitter whose sigma is ``jitter_ns (+) jitter_adc_ns / amplitude``; its amplitude is
    ``dep_gev * adc_per_gev * event_gain``, compressed by PMT saturation
    ``A / (1 + event_saturation * A / adc_max)``; its shape is ``tables[channel]`` (peak 1
    at the pulse's time; every table starts at ``table_t0_ns``).
    """
    n_ev, n_sel, n_s = out.shape
    # noise windows start where n_s consecutive entries fit: no wrap-around inside a window
    start_mask = np.uint64(bank.shape[0] - 1 - 2 * n_s)
    n_tab = tables.shape[1]
    stride = period_ns / STEP_NS  # table entries per sample
    support_ns = n_tab * STEP_NS + table_t0_ns  # template length after the peak
    v = np.empty(n_s)
    for e in range(n_ev):
        ekey = _mix(key ^ (np.uint64(event_numbers[e]) * np.uint64(0x9E3779B97F4A7C15)))
        for k in range(n_sel):
            ch = channels[k]
            table = tables[ch]
            h = _mix(ekey + np.uint64(ch) * np.uint64(0xD6E8FEB86659FD93))
            start = int(h & start_mask)
            ped_even, ped_odd = pedestal[ch, 0], pedestal[ch, 1]
            for i in range(0, n_s, 2):
                v[i] = ped_even + noise_adc * bank[start + i]
                v[i + 1] = ped_odd + noise_adc * bank[start + i + 1]
            for pidx in range(offsets[e], offsets[e + 1]):
                energy = dep_gev[pidx, ch]
                if energy <= 0.0:
                    continue
                amp = energy * adc_per_gev[ch] * event_gain[e]
                amp = amp / (1.0 + event_saturation[e] * amp / adc_max)
                if amp < 0.05:
                    continue
                h = _mix(h + np.uint64(pidx + 1))
                sigma = math.sqrt(jitter_ns * jitter_ns + (jitter_adc_ns / amp) ** 2)
                t_peak = (trigger_offset_ns + phase_ns[e] + part_time_ns[pidx]
                          + sigma * bank[int(h & start_mask)])
                first = max(0, int(math.ceil((t_peak + table_t0_ns) / period_ns)))
                last = min(n_s, int((t_peak + support_ns) / period_ns) + 1)
                if first >= last:
                    continue
                # the template is read at a constant stride: one division per pulse
                x = (first * period_ns - t_peak - table_t0_ns) / STEP_NS
                for i in range(first, last):
                    j = int(x)
                    if j >= n_tab - 1:
                        break
                    f = x - j
                    v[i] += amp * (table[j] + f * (table[j + 1] - table[j]))
                    x += stride
            for i in range(n_s):
                y = math.floor(v[i] + 0.5)
                out[e, k, i] = np.uint16(min(max(y, 0.0), adc_max))
