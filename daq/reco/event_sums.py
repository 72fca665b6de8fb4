"""Per event, from the channels' in-time pulses: calibrated cell energies, the ECAL, preshower
and HCAL module sums, the out-of-time sums, the veto per counter, the SRD energies and tags,
the muon tag and the event flags of both pileup rules, in one numba pass over the batch (the
numpy version made some sixty passes over it and cost a quarter of the reconstruction).

Cell energies are float32 as they travel; sums are accumulated in float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from daq.core import records as er
from daq.reco.pulse import flags as pf

#: Channel flag -> the event flag it raises when any channel has it.
CHANNEL_TO_EVENT_FLAGS = np.array([[pf.SATURATED, er.EV_SATURATED],
                                   [pf.PEDESTAL_FALLBACK, er.EV_PEDESTAL_FALLBACK],
                                   [pf.BAD_CHANNEL, er.EV_BAD_CHANNEL],
                                   [pf.MISSING, er.EV_MISSING],
                                   [pf.FIT_FAILED, er.EV_FIT_FAILED]], np.int64)

#: The fields of ``RECO_DTYPE`` that :func:`event_sums` fills, in its arguments' order (it
#: writes into the batch's table through their views).
EVENT_SUMS_FIELDS = ("e_preshower_gev", "e_ecal_gev", "e_hcal_gev", "e_ecal_out_of_time_gev",
                     "e_hcal_out_of_time_gev", "e_veto_gev", "e_srd_gev", "srd_tag",
                     "srd_sideband_tag", "muon_tag", "flags")


@njit(cache=True, nogil=True, inline="always")
def _srd_tag(e_gev, srd_min_gev, srd_max_gev, required):
    n = 0
    for v in e_gev:
        if srd_min_gev <= v <= srd_max_gev:
            n += 1
    return n >= required


@njit(cache=True, nogil=True)
def event_sums(amp_adc, out_of_time_adc, time_ns, nearest_ns, n_pulses, ch_flags, side_adc,
               gev_per_adc, drift, t_expected_ns, time_offset_ns, flag_map, preshower, main,
               hcal, calorimeter, veto_pairs, srd, muon, beam, srd_window_ns, srd_min_gev,
               srd_max_gev, srd_required, mip_min_gev, mip_max_gev, muon_min_adc, cell_min_gev,
               unresolved_ns, counter_mip_gev, counter_max_mips, max_total_gev, na64_window_ns,
               na64_ecal_max_gev, na64_hcal_max_gev,
               e_cell_out, e_preshower_out, e_ecal_out, e_hcal_out, e_ecal_oot_out,
               e_hcal_oot_out, e_veto_out, e_srd_out, srd_tag_out, srd_side_tag_out,
               muon_tag_out, flags_out):
    """Fills the ``*_out`` arrays for every event of a batch.

    ``amp_adc`` .. ``side_adc`` are the channel kernel's outputs (events x channels);
    ``gev_per_adc`` per channel (gain x reference correction), ``drift`` per event (the gain
    drift correction), ``t_expected_ns`` per event and ``time_offset_ns`` per channel (where an
    in-time pulse peaks); ``flag_map`` is :data:`CHANNEL_TO_EVENT_FLAGS`; ``preshower`` ..
    ``muon`` are channel indices (``hcal`` modules x cells, ``calorimeter`` every ECAL and HCAL
    cell, which the pileup rules look at, ``veto_pairs`` counters x PMTs, ``beam`` the beam
    counters).
    ``e_cell_out`` gets every cell's in-time energy (GeV, drift corrected)."""
    n_ev, n_ch = amp_adc.shape
    n_srd = srd.shape[0]
    e_side = np.empty(n_srd, np.float32)
    for ev in range(n_ev):
        d = np.float32(drift[ev])
        for c in range(n_ch):
            e_cell_out[ev, c] = np.float32(amp_adc[ev, c] * gev_per_adc[c]) * d
        # sums, in time and out of time
        s_ps = 0.0
        for c in preshower:
            s_ps += e_cell_out[ev, c]
        s_main = 0.0
        for c in main:
            s_main += e_cell_out[ev, c]
        oot_ecal = 0.0
        for c in preshower:
            oot_ecal += np.float32(out_of_time_adc[ev, c] * gev_per_adc[c]) * d
        for c in main:
            oot_ecal += np.float32(out_of_time_adc[ev, c] * gev_per_adc[c]) * d
        e_preshower_out[ev] = s_ps
        e_ecal_out[ev] = np.float32(s_ps) + np.float32(s_main)
        e_ecal_oot_out[ev] = oot_ecal
        oot_hcal = 0.0
        mip_all = True
        for m in range(hcal.shape[0]):
            s = 0.0
            for c in hcal[m]:
                s += e_cell_out[ev, c]
                oot_hcal += np.float32(out_of_time_adc[ev, c] * gev_per_adc[c]) * d
            e_hcal_out[ev, m] = s
            s32 = e_hcal_out[ev, m]
            mip_all &= (s32 >= mip_min_gev) and (s32 <= mip_max_gev)
        e_hcal_oot_out[ev] = oot_hcal
        for k in range(veto_pairs.shape[0]):
            a1 = max(e_cell_out[ev, veto_pairs[k, 0]], np.float32(0.0))
            a2 = max(e_cell_out[ev, veto_pairs[k, 1]], np.float32(0.0))
            e_veto_out[ev, k] = math.sqrt(a1 * a2)
        # SRD: in-time energy per module and the tag; the same test in the side band
        for k in range(n_srd):
            c = srd[k]
            dt = abs(time_ns[ev, c] - (t_expected_ns[ev] + time_offset_ns[c]))
            e_srd_out[ev, k] = e_cell_out[ev, c] if dt <= srd_window_ns else 0.0
            e_side[k] = np.float32(side_adc[ev, c] * gev_per_adc[c])
        srd_tag_out[ev] = _srd_tag(e_srd_out[ev], srd_min_gev, srd_max_gev, srd_required)
        srd_side_tag_out[ev] = _srd_tag(e_side, srd_min_gev, srd_max_gev, srd_required)
        counter = False
        for c in muon:
            counter |= amp_adc[ev, c] >= muon_min_adc
        muon_tag_out[ev] = counter and mip_all
        # flags: any channel's, then both pileup rules over the calorimeter cells
        any_flags = 0
        for c in range(n_ch):
            any_flags |= ch_flags[ev, c]
        f = 0
        for j in range(flag_map.shape[0]):
            if any_flags & flag_map[j, 0]:
                f |= flag_map[j, 1]
        ours = False
        na64 = (e_ecal_oot_out[ev] > na64_ecal_max_gev) or (e_hcal_oot_out[ev] > na64_hcal_max_gev)
        for c in calorimeter:
            # ours: a significant cell whose in-time pulse cannot be told from another one,
            # or whose fit failed (in time or not: a failed cell's energy may be anywhere)
            total = np.float32((amp_adc[ev, c] + out_of_time_adc[ev, c]) * gev_per_adc[c])
            if (e_cell_out[ev, c] > cell_min_gev and nearest_ns[ev, c] < unresolved_ns) or (
                    total > cell_min_gev and ch_flags[ev, c] & pf.FIT_FAILED):
                ours = True
            # NA64: every cell above threshold (in time or not) has one pulse, in the window
            if total > cell_min_gev:
                dt = abs(time_ns[ev, c] - (t_expected_ns[ev] + time_offset_ns[c]))
                if n_pulses[ev, c] != 1 or not dt <= na64_window_ns:
                    na64 = True
        # ours: two particles within the in-time window look like one in every cell, but
        # the calorimeters hold more than one beam particle's energy, or the beam counters
        # see two (their mean in-time signal, in MIPs)
        total = e_ecal_out[ev]
        for m in range(hcal.shape[0]):
            total += e_hcal_out[ev, m]
        mips = 0.0
        for c in beam:
            mips += e_cell_out[ev, c]
        if (total > max_total_gev
                or mips > counter_max_mips * counter_mip_gev * beam.shape[0]):
            ours = True
        if ours:
            f |= er.EV_PILEUP_OURS
        if na64:
            f |= er.EV_PILEUP_NA64
        flags_out[ev] = f
