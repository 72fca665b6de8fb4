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

from daq.pulse_shape import STEP_NS, template_at

#: Size of the table of standard-normal numbers that noise and jitter are drawn from (power of 2).
NOISE_BANK_SIZE = 1 << 20


def noise_bank(seed: int) -> np.ndarray:
    """Standard-normal numbers; a sample's noise is read at a hashed offset into this table."""
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
               table: np.ndarray, table_t0_ns: float, period_ns: float, trigger_offset_ns: float,
               jitter_ns: float, jitter_adc_ns: float, adc_max: int) -> None:
    """Fill ``out[event, k, sample]`` (uint16) for global channels ``channels[k]``.

    A particle's pulse peaks at ``trigger_offset_ns + phase_ns[event] + part_time_ns`` plus a
    jitter whose sigma is ``jitter_ns (+) jitter_adc_ns / amplitude``; its amplitude is
    ``dep_gev * adc_per_gev * event_gain``, compressed by PMT saturation
    ``A / (1 + event_saturation * A / adc_max)``.
    """
    n_ev, n_sel, n_s = out.shape
    mask = np.uint64(bank.shape[0] - 1)
    v = np.empty(n_s)
    support_ns = table.shape[0] * STEP_NS + table_t0_ns  # template length after the peak
    for e in range(n_ev):
        ekey = _mix(key ^ (np.uint64(event_numbers[e]) * np.uint64(0x9E3779B97F4A7C15)))
        for k in range(n_sel):
            ch = channels[k]
            h = _mix(ekey + np.uint64(ch) * np.uint64(0xD6E8FEB86659FD93))
            start = h & mask
            for i in range(n_s):
                v[i] = pedestal[ch, i & 1] + noise_adc * bank[(start + np.uint64(i)) & mask]
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
                          + sigma * bank[h & mask])
                first = max(0, int(math.ceil((t_peak + table_t0_ns) / period_ns)))
                last = min(n_s, int((t_peak + support_ns) / period_ns) + 1)
                for i in range(first, last):
                    v[i] += amp * template_at(table, table_t0_ns, i * period_ns - t_peak)
            for i in range(n_s):
                x = math.floor(v[i] + 0.5)
                if x < 0.0:
                    x = 0.0
                elif x > adc_max:
                    x = adc_max
                out[e, k, i] = np.uint16(x)
