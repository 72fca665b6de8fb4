"""na64daq calib: the logbook imported, HVs proposed from it and written with their entry."""

import json
from pathlib import Path

import pytest

from daq.app.cli import main

EXCERPT = str(Path(__file__).parent / "data" / "hcal-hv-logbook-2017.txt")


def _run(capsys, *argv):
    code = main(["calib", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_then_hv_from_the_2017_logbook(tmp_path, capsys):
    db = ["--db", str(tmp_path / "c.db")]
    code, out, _ = _run(capsys, "import-logbook", EXCERPT, "--json", *db)
    assert code == 0 and json.loads(out) == {"file": EXCERPT, "entries": 3, "cells": 27,
                                             "cells_without_hv": 9, "written": True}
    code, out, _ = _run(capsys, "hv", "--from", EXCERPT, "--target", "2500", "--k", "7",
                        "--dry-run", "--json", *db)
    dry = json.loads(out)
    assert dry["version"] is None and len(dry["cells"]) == 27
    code, out, _ = _run(capsys, "history", "--json", *db)
    assert json.loads(out) == []  # the dry run wrote nothing
    code, out, _ = _run(capsys, "hv", "--from", EXCERPT, "--target", "2500", "--k", "7",
                        "--json", *db)
    result = json.loads(out)
    cells = {c["cell"]: c for c in result["cells"]}
    assert cells["HCAL3:0:2"] == {"cell": "HCAL3:0:2", "amplitude": 2445.0, "hv_old": 942.0,
                                  "hv_new": 945.0, "limited": False}
    refused = [c for c in result["cells"] if "refused" in c]
    assert len(refused) == 9 and all("no current HV" in c["refused"] for c in refused)
    code, out, _ = _run(capsys, "show", "hv_v", "--json", *db)
    shown = json.loads(out)
    assert shown["id"] == result["version"] and shown["values"]["HCAL3:0:2"] == 945.0
    assert len(shown["values"]) == 18
    code, out, _ = _run(capsys, "logbook", "--json", *db)
    entries = json.loads(out)
    assert len(entries) == 4 and entries[-1]["version"] == result["version"]
    assert ["HCAL1:0:2", "hv_v", None] in entries[2]["values"]  # missing stays missing
    code, out, _ = _run(capsys, "logbook", "--csv", *db)
    assert out.splitlines()[0].startswith("entry,time,run,author,text,channel")


def test_a_malformed_logbook_is_one_line_and_imports_nothing(tmp_path, capsys):
    bad = tmp_path / "lb.txt"
    text = Path(EXCERPT).read_text().replace("0-0-2   A=2421", "0-0-2   A=24z1")
    bad.write_text(text)
    db = ["--db", str(tmp_path / "c.db")]
    code, _, err = _run(capsys, "import-logbook", str(bad), *db)
    assert code == 2 and f"{bad}:15: A='24z1' is not a number" in err
    assert err.count("\n") == 1
    code, out, _ = _run(capsys, "logbook", "--json", *db)
    assert json.loads(out) == []


def test_set_loads_a_table_and_refuses_a_set_point_beyond_the_limits(tmp_path, capsys):
    db = ["--db", str(tmp_path / "c.db")]
    table = tmp_path / "hv.toml"
    table.write_text('"0-0-2" = 900.0\n"ECAL1:3:3" = 1010.5\n')
    code, out, _ = _run(capsys, "set", "hv_v", str(table), "--first-run", "3", "--json", *db)
    assert code == 0 and json.loads(out)["values"] == {"HCAL2:0:0": 900.0, "ECAL1:3:3": 1010.5}
    limits = tmp_path / "max.toml"
    limits.write_text('"ECAL1:3:3" = 1000.0\n')
    _run(capsys, "set", "hv_max_v", str(limits), "--first-run", "0", *db)
    code, _, err = _run(capsys, "set", "hv_v", str(table), "--first-run", "3", *db)
    assert code == 2 and "ECAL1:3:3 = 1010.5 V is outside the channel's limits 500-1000 V" in err
    for text, message in (('"ECAL9:0:0" = 1.0\n', "unknown channel 'ECAL9:0:0'"),
                          ('"ECAL1:0:0" = "high"\n', "ECAL1:0:0 = 'high' is not a number"),
                          ("[oops", "is not valid TOML"),
                          ('"HCAL2:0:0" = 900.0\n"0-0-2" = 910.0\n',
                           "HCAL2:0:0 is given twice, as 'HCAL2:0:0' and as '0-0-2'"),
                          ("", "no value (expected a TOML table {channel = value})")):
        table.write_text(text)
        code, _, err = _run(capsys, "set", "hv_v", str(table), *db)
        assert code == 2 and message in err and err.count("\n") == 1
    code, out, _ = _run(capsys, "history", "--json", *db)
    assert [v["kind"] for v in json.loads(out)] == ["hv_v", "hv_max_v"]  # nothing else written


def test_hv_without_an_exponent_refuses_the_cell_and_with_one_records_it(tmp_path, capsys):
    db = ["--db", str(tmp_path / "c.db")]
    args = ("hv", "--from", EXCERPT, "--target", "2500", "--json", *db)
    code, out, _ = _run(capsys, *args)
    cells = json.loads(out)["cells"]
    assert all("no HV-gain exponent k" in c["refused"] for c in cells if c["hv_old"])
    code, out, _ = _run(capsys, *args, "--k", "7")
    version = json.loads(out)["version"]
    code, out, _ = _run(capsys, "history", "--json", *db)
    kinds = {v["kind"]: v for v in json.loads(out)}
    assert kinds["hv_v"]["id"] == version and kinds["hv_k"]["values"] == 18
    code, out, _ = _run(capsys, *args)  # now each cell's k comes from the database
    assert not any("refused" in c for c in json.loads(out)["cells"] if c["hv_old"])


def test_ecal_on_a_run_without_a_scan_refuses_every_cell_and_writes_nothing(
        tmp_path, capsys, write_run):
    path = write_run(tmp_path / "runs").path
    db = ["--db", str(tmp_path / "c.db")]
    code, out, _ = _run(capsys, "ecal", "--from", str(path), "--json", *db)
    result = json.loads(out)
    assert code == 0 and result["version"] is None and result["run"] == 7
    assert all("fewer than 200" in c["refused"] for c in result["cells"])
    assert len(result["cells"]) == 72 and result["notes"]
    code, out, _ = _run(capsys, "ecal", "--from", str(tmp_path / "nope.h5"), *db)
    assert code == 2


def test_every_numeric_option_of_hv_is_checked_in_one_line(tmp_path, capsys):
    db = ["--db", str(tmp_path / "c.db")]
    for options, words in ((["--target", "-2500"], "--target: -2500 is outside (0, 4095]"),
                           (["--target", "0"], "--target: 0 is outside"),
                           (["--target", "2500", "--k", "1e-9"], "--k: 1e-9 is outside [1, 30]"),
                           (["--target", "2500", "--max-step", "-5"], "--max-step: -5 is outside"),
                           (["--target", "2500", "--max-step", "nan"], "not a finite number"),
                           (["--target", "inf"], "not a finite number"),
                           (["--target", "2500", "--first-run", "x"], "not a whole number")):
        with pytest.raises(SystemExit) as stop:
            main(["calib", "hv", "--from", EXCERPT, *options, *db])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and words in err and err.count("\n") == 1, err
    code, out, _ = _run(capsys, "history", "--json", *db)
    assert json.loads(out) == []


def test_set_refuses_limits_beyond_the_rated_maximum_and_binary_files(tmp_path, capsys):
    db = ["--db", str(tmp_path / "c.db")]
    table = tmp_path / "t.toml"
    for kind, text, words in (("hv_max_v", '"0-0-2" = 1e9\n', "outside (0, 2000]"),
                              ("hv_min_v", '"0-0-2" = -1e9\n', "outside (0, 2000]"),
                              ("hv_v", '"0-0-2" = -500.0\n', "outside the channel's limits"),
                              ("hv_k", '"0-0-2" = nan\n', "outside [1, 30]")):
        table.write_text(text)
        code, _, err = _run(capsys, "set", kind, str(table), *db)
        assert code == 2 and words in err and err.count("\n") == 1, err
    table.write_bytes(bytes(range(256)) * 10)
    code, _, err = _run(capsys, "set", "hv_v", str(table), *db)
    assert code == 2 and "not a text file" in err and err.count("\n") == 1
    code, out, _ = _run(capsys, "history", "--json", *db)
    assert json.loads(out) == []


def test_hv_limits_in_the_configuration_stay_within_the_hard_bounds(tmp_path, capsys):
    config = tmp_path / "calib.toml"
    for text, words in (("[hv]\nmax_v = 1e9\n", "hv.max_v"),
                        ("[hv]\nmin_v = 1200.0\nmax_v = 1000.0\n", "must be below hv.max_v")):
        config.write_text(text)
        code, _, err = _run(capsys, "hv", "--from", EXCERPT, "--target", "2500", "--config",
                            str(config), "--db", str(tmp_path / "c.db"))
        assert code == 2 and words in err and err.count("\n") == 1, err


def test_import_refuses_a_logbook_with_an_absurd_hv_and_imports_nothing(tmp_path, capsys):
    db = ["--db", str(tmp_path / "c.db")]
    for reading in ("HV=1e9", "HV=-900", "HV=nan", "HV=inf"):
        bad = tmp_path / "lb.txt"
        bad.write_text(Path(EXCERPT).read_text().replace("HV=802", reading))
        code, _, err = _run(capsys, "import-logbook", str(bad), *db)
        shown = reading.replace("=", "='") + "'"
        assert code == 2 and f"{bad}:15: {shown} is outside (0, 2000]" in err, err
        assert err.count("\n") == 1
    code, out, _ = _run(capsys, "logbook", "--json", *db)
    assert json.loads(out) == []
