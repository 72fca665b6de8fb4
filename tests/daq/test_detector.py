from importlib import resources

import numpy as np
import pytest

from daq.core.detector import Detector, DetectorMapError

SHIPPED = resources.files("daq.core").joinpath("detector.toml").read_text()


def _line_no(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


def test_shipped_map_has_the_na64_channels(detector):
    counts = {k: len(detector.select(k)) for k in ("BEAM", "SRD", "ECAL", "VETO", "HCAL", "MUON")}
    assert counts == {"BEAM": 5, "SRD": 3, "ECAL": 72, "VETO": 6, "HCAL": 36, "MUON": 4}
    assert len(detector.ecal_main) == len(detector.ecal_preshower) == 36
    assert all(len(detector.hcal_module(m)) == 9 for m in range(4))
    assert detector.sample_period_ns == 12.5 and detector.samples_per_channel == 32
    assert detector.window_ns == 400.0
    assert len(detector.sources) >= 3  # several crates: event building is real


def test_every_channel_is_read_by_exactly_one_source(detector):
    read = np.concatenate([s.channels for s in detector.sources])
    assert sorted(read) == list(range(detector.n_channels))


def test_names_aliases_and_grids(detector):
    c = detector.channel("HCAL2:0:1")
    assert (c.detector, c.module, c.x, c.y, c.alias) == ("HCAL", 2, 0, 1, "0-1-2")
    assert detector.channel("0-1-2") is c  # the 2017 logbook's X-Y-M form
    main = detector.grid("ECAL", 1)
    assert main.shape == (6, 6)
    assert detector.channels[main[2, 3]].name == "ECAL1:3:2"
    assert set(main.ravel()) == set(detector.ecal_main)
    assert detector.source_of("ECAL1:3:2") == detector.channels[main[2, 3]].source
    with pytest.raises(KeyError, match="unknown channel"):
        detector.channel("ECAL9:0:0")


def test_source_frame_order_is_port_then_channel(detector):
    for s in detector.sources:
        addr = [(detector.channels[i].port, detector.channels[i].channel) for i in s.channels]
        assert addr == sorted(addr)


@pytest.mark.parametrize("old, new, words", [
    ('name = "ECAL1:3:2",', 'name = "ECAL1:3:1",', ["duplicate channel 'ECAL1:3:1'"]),
    ('detector = "HCAL", name = "HCAL2:0:1"', 'detector = "HCALX", name = "HCAL2:0:1"',
     ["unknown detector 'HCALX'"]),
    ('name = "SRD1",', 'name = "SRD1", bogus = 1,', ["unknown field", "bogus"]),
    ('name = "MU2",          source = 1,', 'name = "MU2",', ["missing field 'source'"]),
    ('name = "ECAL0:5:5",', 'name = "ECAL0:6:5",', ["does not fit detector ECAL"]),
    ('name = "S3",           source = 1,', 'name = "S3",           source = 9,',
     ["source 9 is not a [[source]] id"]),
])
def test_broken_channel_lines_are_named(old, new, words):
    assert old in SHIPPED, old
    text = SHIPPED.replace(old, new, 1)
    line = _line_no(SHIPPED, old)
    with pytest.raises(DetectorMapError) as err:
        Detector.from_text(text, "map.toml")
    msg = str(err.value)
    assert msg.startswith(f"map.toml:{line}:"), msg
    for w in words:
        assert w in msg


def test_two_channels_on_one_address():
    text = SHIPPED.replace('name = "S1",           source = 1, port = 0, channel =  1',
                           'name = "S1",           source = 1, port = 0, channel =  0')
    with pytest.raises(DetectorMapError, match=r":\d+: channel S1: source 1 port 0 channel 0 "
                                               r"is already read by S0"):
        Detector.from_text(text, "map.toml")


@pytest.mark.parametrize("old, new, words", [
    ("samples_per_channel = 32", "samples_per_channel = 33", ["even integer"]),
    ("samples_per_channel = 32", "samples_per_channel = 4", ["samples_per_channel = 4"]),
    ("sample_period_ns = 12.5", "sample_period_ns = -1.0", ["sample_period_ns = -1.0"]),
    ("adc_max = 4095 ", "", ["missing field 'adc_max'"]),
])
def test_broken_digitizer(old, new, words):
    text = SHIPPED.replace(old, new, 1)
    with pytest.raises(DetectorMapError) as err:
        Detector.from_text(text, "map.toml")
    assert all(w in str(err.value) for w in words), str(err.value)
    assert str(err.value).startswith("map.toml:")


def test_toml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(DetectorMapError, match="not valid TOML"):
        Detector.from_text(SHIPPED.replace("channels = [", "channels = [[", 1), "m.toml")
    with pytest.raises(DetectorMapError, match="cannot read"):
        Detector.load(tmp_path / "nope.toml")
    with pytest.raises(DetectorMapError, match="duplicate source id 2"):
        Detector.from_text(SHIPPED.replace("id = 3", "id = 2", 1), "m.toml")
