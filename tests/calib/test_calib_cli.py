"""na64daq calib: the logbook imported, HVs proposed from it and written with their entry."""

import json
from pathlib import Path

from daq.cli import main

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
