"""Yields per electron on target: the physics trigger follows the beam, so the dimuons per EOT
that the monitor computes (muon-tagged physics triggers, prescale undone, over the EOT estimated
from random triggers) are the configured probability x boost x the trigger's acceptance."""

import numpy as np
import pytest

from daq.reco.reconstruction import Reconstruction
from emulator.config import DIMUON
from emulator.emulator import expected_yields
from monitor import snapshot as proto
from monitor.histogram_server import HistogramServer, reference
from monitor.histograms import HistogramFiller
from monitor.quantities import spill_series

BEAM = {"spill.duration_s": 0.4, "beam.intensity_per_spill": 5e6 * 0.4 / 4.8,
        "trigger.random_rate_hz": 20000.0, "trigger.calibration_rate_hz": 0.0,
        "trigger.led_rate_hz": 0.0, "classes.dimuon_boost": 10000.0}


def _monitor_series(detector, em):
    reco = Reconstruction(detector)
    server = HistogramServer(detector, HistogramFiller(
        detector, reco.constants.gev_per_adc, reco.cfg))
    server.reference = reference(reco.constants, expected_yields(em.cfg, detector),
                                 em.cfg.trigger.physics_prescale)
    truth_dimuons = 0
    for b in em.batches(em.spill_plan(1)):
        events = b.built_events()
        table, ch = reco(b.samples_in_map_order(detector), events)
        server.add_batch(1, 1, events, table, ch.table())
        truth_dimuons += int(((b.truth["class"] == DIMUON) & (events["trigger"] == 1)).sum())
    return spill_series(proto.decode([bytes(p) for p in server.snapshot()])), truth_dimuons


@pytest.mark.parametrize("prescale", [1.0, 4.0])
def test_dimuons_per_eot_follow_the_configuration(detector, make_emulator, prescale):
    em = make_emulator(**BEAM, **{"trigger.physics_prescale": prescale})
    s, truth = _monitor_series(detector, em)
    expected = expected_yields(em.cfg, detector)["dimuons_per_eot"]  # probability x boost x acc
    assert np.isclose(expected, 2.3e-7 * 1e4 * em.acceptance[DIMUON])
    measured = s["dimuons_per_1e9_eot"][-1] / 1e9
    n = s["dimuons"][-1]
    assert n > 150 / prescale and n >= 0.95 * truth  # the muon tag finds the true dimuons
    # Poisson on the count, and the EOT estimate's accuracy (bench/eot_estimate.py: 2 %)
    sigma = measured * np.sqrt(1 / n + 0.02 ** 2)
    assert abs(measured - expected) < 3 * sigma, (measured, expected, n, s["eot"][-1])
    # and the physics trigger rate follows the beam: intensity x acceptance / prescale
    assert np.isclose(em.physics_rate_hz, 5e6 / 4.8 * np.dot(
        np.diff(em.cum_boosted, prepend=0.0), em.acceptance) / prescale)
