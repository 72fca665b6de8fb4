"""The event class of every event of a batch, from its sums and flags: the regions of the
(E_ECAL, E_HCAL) plane ([001] Fig. 2), in one numba pass (numpy took a dozen passes, which at
the builder's batch size cost as much as the sums themselves)."""

from __future__ import annotations

from numba import njit

from daq.core import records as er
from daq.core.wire_format import TriggerKind

PHYSICS, CALIBRATION = int(TriggerKind.PHYSICS), int(TriggerKind.CALIBRATION)


@njit(cache=True, nogil=True)
def candidate_selection(e_srd_gev, e_veto_gev, shape_chi2, flags, pileup_flag, srd_min_gev,
                        srd_max_gev, veto_max_gev, chi2_max, out):
    """Per event, whether it passes the signal selection of [001] that this set-up can apply
    (the box's energies aside): every SRD module's SR within the window of 100 GeV electrons,
    every veto counter below threshold, an electron's shower shape, no pileup."""
    for ev in range(e_srd_gev.shape[0]):
        ok = not (flags[ev] & pileup_flag) and shape_chi2[ev] < chi2_max  # NaN fails
        for m in range(e_srd_gev.shape[1]):
            ok = ok and srd_min_gev <= e_srd_gev[ev, m] <= srd_max_gev
        for k in range(e_veto_gev.shape[1]):
            ok = ok and e_veto_gev[ev, k] < veto_max_gev
        out[ev] = ok


@njit(cache=True, nogil=True)
def classify(trigger, e_ecal_gev, e_hcal_gev, muon_tag, flags, pileup_flag, beam_energy_gev,
             region2_tolerance_gev, signal_ecal_max_gev, signal_hcal_max_gev, candidate,
             blinded, class_out):
    """``class_out`` per event, by precedence: only beam triggers of complete events are
    classified (random and LED triggers, and events a source did not deliver, are 'other':
    an incomplete event's sums lack that source's cells, and the stop's cut once put 3,659
    of them in the signal box); pileup (``flags & pileup_flag``, the rule in force) first, then
    the muon tag, the signal box (physics triggers that pass the ``candidate`` selection: a
    random coincidence on an empty beam, or an upstream-loss electron without a 100 GeV
    electron's SR, is no candidate, and stays 'other'), region II (E_ECAL + E_HCAL within the
    tolerance of the beam energy).
    Signal-box events get ``EV_BLINDED`` in ``flags`` when ``blinded``."""
    for ev in range(trigger.shape[0]):
        t = trigger[ev]
        e_ecal = e_ecal_gev[ev]
        e_hcal = e_hcal_gev[ev, 0]
        for m in range(1, e_hcal_gev.shape[1]):
            e_hcal += e_hcal_gev[ev, m]
        cls = er.OTHER  # and so it stays for random and LED triggers
        if t != PHYSICS and t != CALIBRATION:
            pass
        elif flags[ev] & er.EV_MISSING:  # a source's cells are absent: no place in the plane
            pass
        elif flags[ev] & pileup_flag:
            cls = er.PILEUP
        elif muon_tag[ev]:
            cls = er.DIMUON
        elif t == PHYSICS and e_ecal < signal_ecal_max_gev and e_hcal < signal_hcal_max_gev:
            if candidate[ev]:
                cls = er.SIGNAL_BOX
        elif abs(e_ecal + e_hcal - beam_energy_gev) <= region2_tolerance_gev:
            cls = er.REGION_II
        class_out[ev] = cls
        if blinded and cls == er.SIGNAL_BOX:
            flags[ev] |= er.EV_BLINDED
