"""MSADC waveforms: pedestals, noise, pulse amplitudes and times, saturation, gains and drifts."""

import numpy as np
import pytest

from daq.core.wire_format import TriggerKind
from emulator.config import ELECTRON, NOTHING


def _all_channels(em, truth):
    """Samples of every channel in global channel order: [event, channel, sample]."""
    n = len(truth["class"])
    out = np.empty((n, em.detector.n_channels, em.detector.samples_per_channel), np.uint16)
    for s in em.detector.sources:
        out[:, list(s.channels)] = truth[f"samples_{s.id}"]
    return out


@pytest.fixture(scope="module")
def rich_samples(rich_emulator, rich_spill):
    return _all_channels(rich_emulator, rich_spill)


def test_pedestals_are_separate_for_even_and_odd_samples(rich_emulator, rich_spill,
                                                         rich_samples):
    quiet = (rich_spill["trigger"] == TriggerKind.RANDOM) & (rich_spill["n_pileup"] == 0)
    assert quiet.sum() > 300
    s = rich_samples[quiet].astype(float)
    even, odd = s[:, :, 0::2].mean(axis=(0, 2)), s[:, :, 1::2].mean(axis=(0, 2))
    truth = rich_emulator.pedestal
    n = quiet.sum() * 16
    tol = 5 * rich_emulator.cfg.digitizer.noise_adc / np.sqrt(n)
    assert np.abs(even - truth[:, 0]).max() < tol
    assert np.abs(odd - truth[:, 1]).max() < tol
    # the interleaved ADCs really differ, by the configured spread
    diff = truth[:, 1] - truth[:, 0]
    assert 0.5 * 8.0 < diff.std() < 1.5 * 8.0


def test_noise_per_sample(rich_emulator, rich_spill, rich_samples):
    quiet = (rich_spill["trigger"] == TriggerKind.RANDOM) & (rich_spill["n_pileup"] == 0)
    s = rich_samples[quiet].astype(float)
    resid = s - rich_emulator.pedestal[None, :, [0, 1] * 16]
    sigma = rich_emulator.cfg.digitizer.noise_adc
    expected = np.sqrt(sigma**2 + 1.0 / 12.0)  # plus rounding to whole ADC counts
    assert abs(resid.std() / expected - 1.0) < 0.03
    assert abs(resid.mean()) < 0.05


def test_pulse_amplitude_and_time_follow_the_deposit(rich_emulator, rich_spill, rich_samples):
    em, det = rich_emulator, rich_emulator.detector
    sel = ((rich_spill["trigger"] == TriggerKind.CALIBRATION) & (rich_spill["class"] == ELECTRON)
           & (rich_spill["n_pileup"] == 0))
    assert sel.sum() > 500
    ch = det.grid("ECAL", 1)[em.cfg.beam.aim_y, em.cfg.beam.aim_x]
    wave = rich_samples[sel, ch].astype(float)
    ped = em.pedestal[ch, [0, 1] * 16]
    t_peak = rich_spill["t_peak_ns"][sel].astype(float)
    t = np.arange(det.samples_per_channel) * det.sample_period_ns
    shape_sum = em.template(t[None, :] - t_peak[:, None]).sum(1)
    amp = rich_spill["deposit_gev"][sel, ch] * em.adc_per_gev[ch]
    ratio = (wave - ped).sum(1) / (amp * shape_sum)
    assert abs(ratio.mean() - 1.0) < 0.002
    assert ratio.std() < 0.01
    # the highest sample is the one nearest the true peak time (or its neighbour)
    nearest = np.round(t_peak / det.sample_period_ns)
    assert (np.abs(wave.argmax(1) - nearest) <= 1).all()
    assert np.mean(wave.argmax(1) == nearest) > 0.8


def test_saturation_at_4095(detector, make_emulator, emulate_spill):
    em = make_emulator(**{"gains.adc_per_gev_ecal1": 200.0,
                                    "trigger.calibration_rate_hz": 500.0,
                                    "trigger.physics_rate_hz": 0.0, "spill.duration_s": 0.5})
    truth = emulate_spill(em)
    samples = _all_channels(em, truth)
    assert samples.max() == detector.adc_max
    ch = detector.grid("ECAL", 1)[3, 3]
    big = truth["deposit_gev"][:, ch] * em.adc_per_gev[ch] > 1.2 * detector.adc_max
    assert big.sum() > 100
    assert (samples[big, ch].max(1) == detector.adc_max).all()
    small = truth["deposit_gev"][:, ch] * em.adc_per_gev[ch] < 0.5 * detector.adc_max
    no_pile = truth["n_pileup"] == 0
    assert (samples[small & no_pile, ch].max(1) < detector.adc_max).all()


def test_gain_follows_hv_to_the_power_k(detector, tmp_path, make_emulator, emulate_spill):
    hv_file = tmp_path / "hv.toml"
    hv_file.write_text('"ECAL1:3:3" = 1050.0\n"0-1-2" = 950.0\n')
    base = make_emulator()
    tuned = make_emulator(**{"gains.hv_table": str(hv_file)})
    k = base.cfg.gains.hv_k
    for name, volts in (("ECAL1:3:3", 1050.0), ("HCAL2:0:1", 950.0)):
        i = detector.index(name)
        assert tuned.hv_v[i] == volts
        assert np.isclose(tuned.adc_per_gev[i] / base.adc_per_gev[i], (volts / 1000.0) ** k)
    # same seed, same physics: the pulse in the re-tuned cell scales by (HV/HV0)^k
    a, b = emulate_spill(base), emulate_spill(tuned)
    i = detector.index("ECAL1:3:3")
    sid = detector.source_of("ECAL1:3:3")
    k_in_src = list(detector.source(sid).channels).index(i)
    ped = base.pedestal[i].mean()
    sel = (a["trigger"] == TriggerKind.CALIBRATION) & (a["class"] == ELECTRON)
    ra = a[f"samples_{sid}"][sel, k_in_src].astype(float).sum(1) - 32 * ped
    rb = b[f"samples_{sid}"][sel, k_in_src].astype(float).sum(1) - 32 * ped
    assert abs(np.median(rb / ra) - 1.05**k) < 0.01


def test_hv_spread_mis_sets_gains_within_the_requested_range(detector, make_emulator):
    em = make_emulator(**{"gains.hv_gain_spread": 0.1})
    nominal = make_emulator()
    ratio = em.adc_per_gev / nominal.adc_per_gev
    assert ratio.min() >= 0.9 - 1e-9 and ratio.max() <= 1.1 + 1e-9
    assert ratio.std() > 0.04  # really spread (uniform +-10 % has sigma 0.058)


def test_bad_hv_table_is_refused(detector, tmp_path, make_emulator):
    from daq.core.config_schema import ConfigError

    bad = tmp_path / "hv.toml"
    bad.write_text('"ECAL7:0:0" = 1000.0\n')
    with pytest.raises(ConfigError, match="unknown channel 'ECAL7:0:0'"):
        make_emulator(**{"gains.hv_table": str(bad)})
    bad.write_text('"ECAL1:0:0" = -5\n')
    with pytest.raises(ConfigError, match="ECAL1:0:0 = -5"):
        make_emulator(**{"gains.hv_table": str(bad)})


def test_intra_spill_gain_drift_and_early_pmt_saturation(detector, make_emulator, emulate_spill):
    common = {"trigger.calibration_rate_hz": 2000.0, "trigger.physics_rate_hz": 0.0,
              "trigger.random_rate_hz": 0.0}
    base = emulate_spill(make_emulator(**common))
    drift = emulate_spill(make_emulator(**common,
                                        **{"response.gain_drift_fraction": 0.03}))
    t = base["trigger_time_ns"] / 4.8e9
    assert np.allclose(drift["gain_factor"], 1.0 - 0.03 * t, atol=1e-6)
    sat = emulate_spill(make_emulator(**common, **{"response.pmt_saturation": 1.0}))
    sid = detector.source_of("ECAL1:3:3")
    k = list(detector.source(sid).channels).index(detector.index("ECAL1:3:3"))
    sel = base["class"] == ELECTRON
    peak = {name: d[f"samples_{sid}"][sel, k].max(1).astype(float)
            for name, d in (("base", base), ("drift", drift), ("sat", sat))}
    late, early = t[sel] > 0.8, t[sel] < 0.05
    assert np.median(peak["drift"][late] / peak["base"][late]) < 0.98  # lost gain by the end
    assert abs(np.median(peak["drift"][early] / peak["base"][early]) - 1.0) < 0.005
    assert np.median(peak["sat"][early] / peak["base"][early]) < 0.8  # saturated early
    assert abs(np.median(peak["sat"][late] / peak["base"][late]) - 1.0) < 0.01


def test_led_flashes_light_the_calorimeters_by_gain_and_nothing_else(detector, make_emulator,
                                                                    emulate_spill):
    """An LED pulse is led_adc x the PMT's share of the light x its gain factor (HV^k): the
    area of the pulse, pedestal subtracted, scales with it; other channels see no flash."""
    em = make_emulator(**{"trigger.led_rate_hz": 400.0, "trigger.physics_rate_hz": 0.0,
                          "beam.intensity_per_spill": 1e3, "spill.duration_s": 0.5,
                          "gains.hv_gain_spread": 0.1})
    spill = emulate_spill(em)
    led = spill["trigger"] == TriggerKind.LED
    assert led.sum() > 150 and (spill["class"][led] == NOTHING).all()
    samples = _all_channels(em, spill)[led].astype(float)
    area = (samples - em.pedestal.mean(1)[None, :, None]).sum(2).mean(0)  # per channel
    lit = np.zeros(detector.n_channels, bool)
    lit[np.concatenate([detector.select("ECAL"), detector.select("HCAL")])] = True
    expected = em.led_gev * em.adc_per_gev  # peak amplitude, ADC
    assert (em.led_gev[~lit] == 0).all() and np.abs(area[~lit]).max() < 20
    ratio = area[lit] / expected[lit]  # the pulse's area per ADC of amplitude: one shape
    assert ratio.std() / ratio.mean() < 0.01
    light = expected[lit] / (em.cfg.response.led_adc * (em.hv_v[lit] / 1000.0) ** 7.0)
    assert light.min() > 0.95 - 1e-9 and light.max() < 1.05 + 1e-9 and light.std() > 0.02


def test_a_calibration_scan_aims_each_spill_at_the_next_cell(detector, make_emulator,
                                                            emulate_spill):
    em = make_emulator(**{"beam.scan_ecal": True, "spill.duration_s": 0.2,
                          "trigger.physics_rate_hz": 0.0})
    grid = detector.grid("ECAL", 1)
    for spill, cell in ((1, (0, 0)), (2, (1, 0)), (8, (1, 1)), (36, (5, 5)), (37, (0, 0))):
        truth = emulate_spill(em, spill)
        sel = (truth["trigger"] == TriggerKind.CALIBRATION) & (truth["class"] == ELECTRON)
        hottest = truth["deposit_gev"][sel][:, grid.ravel()].argmax(1)
        y, x = np.divmod(np.bincount(hottest).argmax(), grid.shape[1])
        assert (x, y) == cell
