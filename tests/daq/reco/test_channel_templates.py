"""Learnt pulse templates: what a stored one must be, its width, its way through the run
file's constants, and the reconstruction fitting a channel with its own."""

import json
import math

import numpy as np
import pytest
from conftest import analytic_template as analytic
from scipy.optimize import brentq

from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.channel_templates import ChannelTemplate, TemplateError
from daq.reco.reconstruction import Reconstruction


def test_the_width_is_the_formulas():
    def half(t):
        s = (t + 30.0) / 30.0
        return s ** 4 * math.exp(4 * (1 - s)) - 0.5
    expected = brentq(half, 0.0, 100.0) - brentq(half, -30.0, 0.0)
    assert analytic(30.0).fwhm_ns == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(values=[0.0, 1.0, 0.5]), "3 values"),
    (lambda d: d.update(values=[0.0] + [1.0, 1.2] * 3), "outside"),
    (lambda d: d["values"].__setitem__(5, float("nan")), "outside"),
    (lambda d: d.update(t0_ns=-30.5), "peak must be a value of the grid"),
    (lambda d: d.update(t0_ns=0.0), "peak must be a value of the grid"),
    (lambda d: d.update(step_ns=0.0), "step"),
    (lambda d: d["values"].__setitem__(30, 0.99), "not 1"),
    (lambda d: d.update(values=list(np.linspace(0, 1, 3000))), "1001 values"),
    (lambda d: d.pop("pulses"), "KeyError"),
    (lambda d: d.update(values="abc"), "ValueError"),
])
def test_a_stored_template_that_is_not_one_is_refused_naming_why(change, message):
    d = analytic(30.0).to_dict()
    change(d)
    with pytest.raises(TemplateError, match=message):
        ChannelTemplate.from_dict(d)


def test_the_kernels_table_follows_the_stored_values_and_starts_at_their_start():
    t = analytic(36.0)
    table, t0_ns = t.table()
    assert t0_ns == -36.0 and len(table) == 4 * (len(t.values) - 1) + 1
    assert table[::4] == pytest.approx(np.maximum(t.values, 0.0), abs=1e-15)
    assert table[4 * 36] == 1.0


def first_spill(detector, emulator):
    """Spill 1: (truth, samples, events)."""
    batches = list(emulator.batches(emulator.spill_plan(1)))
    truth = {k: np.concatenate([b.truth[k] for b in batches])
             for k in ("deposit_gev", "gain_factor")}
    return (truth, np.concatenate([b.samples_in_map_order(detector) for b in batches]),
            np.concatenate([b.built_events() for b in batches]))


def test_constants_with_templates_travel_through_json_and_reconstruct_bit_for_bit(
        detector, make_emulator):
    _, samples, events = first_spill(detector, make_emulator())
    constants = CalibrationConstants.nominal(detector)
    constants.pulse_templates = {c: analytic(30.0 + c % 7) for c in range(0, 126, 3)}
    again = CalibrationConstants.from_dict(json.loads(json.dumps(constants.to_dict())),
                                           detector.n_channels)
    assert again.pulse_templates.keys() == constants.pulse_templates.keys()
    one = Reconstruction(detector, constants=constants)(samples, events)
    two = Reconstruction(detector, constants=again)(samples, events)
    assert one[0].tobytes() == two[0].tobytes()
    assert one[1].table().tobytes() == two[1].table().tobytes()


def test_constants_without_templates_keep_their_old_form(detector):
    assert "pulse_templates" not in CalibrationConstants.nominal(detector).to_dict()
    bad = dict(CalibrationConstants.nominal(detector).to_dict(),
               pulse_templates={"999": analytic(30.0).to_dict()})
    with pytest.raises(ValueError, match="channel '999'"):
        CalibrationConstants.from_dict(bad, detector.n_channels)


def test_a_channel_is_fitted_with_its_own_template(detector, make_emulator):
    """Pulses drawn 20 % slower than the analytic template: a channel given the slower shape
    (written here from the formula) measures their amplitude, the others underestimate it."""
    em = make_emulator(**{"digitizer.true_pulse_scale": 1.2, "trigger.led_rate_hz": 400.0,
                          "spill.duration_s": 0.5})
    truth, samples, events = first_spill(detector, em)
    led = events["trigger"] == 4
    truth = (truth["deposit_gev"][led] * em.adc_per_gev[None, :]
             * truth["gain_factor"][led, None])  # the flashes' peaks, ADC
    learnt = detector.select("ECAL")[::2]
    constants = CalibrationConstants.nominal(detector)
    constants.pulse_templates = {int(c): analytic(36.0) for c in learnt}
    _, ch = Reconstruction(detector, constants=constants)(samples, events)
    others = np.setdiff1d(detector.select("ECAL"), learnt)
    assert led.sum() >= 20
    assert np.median(ch.amplitude_adc[led][:, learnt] / truth[:, learnt]) == pytest.approx(
        1.0, abs=0.01)
    assert np.median(ch.amplitude_adc[led][:, others] / truth[:, others]) < 0.97
