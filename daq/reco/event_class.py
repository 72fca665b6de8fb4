"""The event class of every event of a batch, from its sums and flags: the regions of the
(E_ECAL, E_HCAL) plane ([001] Fig. 2), in one numba pass (numpy took a dozen passes, which at
the builder's batch size cost as much as the sums themselves)."""

from __future__ import annotations

from numba import njit

from daq.reco import event_record as er
from daq.wire_format import TriggerKind

PHYSICS, CALIBRATION = int(TriggerKind.PHYSICS), int(TriggerKind.CALIBRATION)


@njit(cache=True, nogil=True)
def classify(trigger, e_ecal_gev, e_hcal_gev, muon_tag, flags, pileup_flag, beam_energy_gev,
             region2_tolerance_gev, signal_ecal_max_gev, signal_hcal_max_gev, blinded,
             class_out):
    """``class_out`` per event, by precedence: only beam triggers of complete events are
    classified (random and LED triggers, and events a source did not deliver, are 'other':
    an incomplete event's sums lack that source's cells, and the stop's cut once put 3,659
    of them in the signal box); pileup (``flags & pileup_flag``, the rule in force) first, then
    the muon tag, the signal box (physics triggers only: a random coincidence on an empty beam
    is no candidate), region II (E_ECAL + E_HCAL within the tolerance of the beam energy).
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
            cls = er.SIGNAL_BOX
        elif abs(e_ecal + e_hcal - beam_energy_gev) <= region2_tolerance_gev:
            cls = er.REGION_II
        class_out[ev] = cls
        if blinded and cls == er.SIGNAL_BOX:
            flags[ev] |= er.EV_BLINDED
