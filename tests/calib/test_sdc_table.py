"""NA64's calibration tables (SDC text) read, and one column loaded as a version."""

import json

import pytest

from calib.sdc_table import SdcTableError, read_sdc
from daq.app.cli import main

TABLE = """\
# ECAL calibration, as NA64 writes them
type=ECAL
runs=1-100
columns=name,x,y,amp,time
ECAL1 2 3   0.025  1.5
ECAL1 3 3   0.020  -0.5
ECAL0 0 0   0.100  0.0
runs = 50-200   # a later block: run 50 on, it overrides
columns=name,x,y,amp
ECAL1 2 3   0.030
"""


def test_a_later_block_overrides_an_earlier_one_for_its_runs(tmp_path, detector):
    path = tmp_path / "ecal.sdc"
    path.write_text(TABLE)
    early, late = read_sdc(path, detector, 10), read_sdc(path, detector, 60)
    assert early == {"ECAL1:2:3": {"amp": 0.025, "time": 1.5},
                     "ECAL1:3:3": {"amp": 0.020, "time": -0.5},
                     "ECAL0:0:0": {"amp": 0.100, "time": 0.0}}
    assert late["ECAL1:2:3"] == {"amp": 0.030, "time": 1.5} and late["ECAL1:3:3"]["amp"] == 0.02
    assert read_sdc(path, detector, 150) == {"ECAL1:2:3": {"amp": 0.030}}


@pytest.mark.parametrize("text, message", [
    ("ECAL1 2 3 0.1\n", ":1: a row before any 'columns=' line"),
    ("columns=name,x,y,amp\nECAL1 2 3\n", ":2: 3 fields where columns= names 4"),
    ("columns=name,x,y,amp\nECAL9 2 3 0.1\n", ":2: ECAL9 2 3 is no channel"),
    ("columns=name,x,y,amp\nECAL1 2 3 high\n", ":2: 'ECAL1 2 3 high': not numbers"),
    ("runs=early\ncolumns=name,amp\n", ":1: runs='early' is not a run range"),
])
def test_a_bad_table_names_its_line(tmp_path, detector, text, message):
    path = tmp_path / "bad.sdc"
    path.write_text(text)
    with pytest.raises(SdcTableError, match=message.replace("(", r"\(")):
        read_sdc(path, detector, 1)


def test_calib_sdc_loads_a_column_as_a_new_version(tmp_path, capsys):
    path = tmp_path / "ecal.sdc"
    path.write_text(TABLE)
    db = ["--db", str(tmp_path / "c.db")]
    assert main(["calib", "sdc", str(path), "--run", "60", "--column", "amp", "--as",
                 "gev_per_adc", "--first-run", "60", "--json", *db]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "adc_per_gev" and out["first_run"] == 60
    assert out["values"] == pytest.approx({"ECAL1:2:3": 1 / 0.030, "ECAL1:3:3": 1 / 0.020,
                                           "ECAL0:0:0": 1 / 0.100})
    assert main(["calib", "show", "adc_per_gev", "--run", "60", "--json", *db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["values"]["ECAL1:2:3"] == pytest.approx(1 / 0.030)
    assert main(["calib", "sdc", str(path), "--run", "60", "--column", "gain", "--as",
                 "adc_per_gev", *db]) == 2
    err = capsys.readouterr().err
    assert "no column 'gain'" in err and err.count("\n") == 1
