"""``na64daq emulate --date`` and ``na64daq convert``: NA64's raw data into our run file, as a
user runs them."""

import numpy as np
import pytest

from daq.app.cli import main
from daq.raw.channel_map import EMULATED_MAP
from daq.run_file import layout as L
from daq.run_file.reader import RunReader

pytestmark = pytest.mark.timeout(300)
SETTINGS = ["--set", "run.spills=2", "--set", "spill.duration_s=0.1",
            "--set", "trigger.physics_rate_hz=3000"]


@pytest.fixture
def date_file(tmp_path, capsys):
    path = tmp_path / "cdr01001-000001.dat"
    assert main(["emulate", "--date", str(path), *SETTINGS]) == 0
    capsys.readouterr()
    return path


def test_a_date_file_converts_into_a_run_file_that_verifies_and_reproduces(
        tmp_path, date_file, make_emulator, detector, capsys):
    out = tmp_path / "run.h5"
    assert main(["convert", str(date_file), "--map", str(EMULATED_MAP), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "problems: none" in said and "2 spills" in said
    em = make_emulator(**{"run.spills": 2, "spill.duration_s": 0.1,
                          "trigger.physics_rate_hz": 3000.0})
    truth = [b for s in (1, 2) for b in em.batches(em.spill_plan(s))]
    with RunReader(out) as run:
        samples, events = run.column(L.SAMPLES), run.column(L.EVENTS)
        spills = run.spills()
        config = run.provenance_json("reco_config")
        sources = run.provenance_json("raw_source")
    assert np.array_equal(samples, np.concatenate([b.samples_in_map_order(detector)
                                                   for b in truth]))
    assert np.array_equal(events["event"], np.concatenate([b.events["event"] for b in truth]))
    assert spills["spill"].tolist() == [1, 2] and spills["balanced"].all()
    # start and end of burst become the spill's times: 0.1 s apart, as configured
    assert (spills["end_ns"] - spills["start_ns"]).tolist() == [100_000_000] * 2
    assert spills["start_ns"][1] > spills["end_ns"][0] > 0
    assert config["pulses"]["trigger_phase"] == "unknown"  # DATE keeps microseconds only
    assert sources["files"][0]["name"] == date_file.name
    assert len(sources["files"][0]["sha256"]) == 64
    assert main(["inspect", "--verify", str(out)]) == 0
    capsys.readouterr()
    assert main(["reco", str(out), "--out", str(tmp_path / "again.h5")]) == 0
    assert "a reproduction" in capsys.readouterr().out


def test_digits_the_map_does_not_know_are_counted_and_shown(tmp_path, date_file, capsys):
    text = EMULATED_MAP.read_text()
    lines = text.splitlines()
    dropped = [k for k, line in enumerate(lines) if line.strip().startswith("SRD")]
    partial_map = tmp_path / "maps" / "partial.xml"
    partial_map.parent.mkdir()
    partial_map.write_text("\n".join(x for k, x in enumerate(lines) if k not in dropped))
    out = tmp_path / "run.h5"
    assert main(["convert", str(date_file), "--map", str(partial_map.parent), "--out",
                 str(out), "--json"]) == 0
    import json

    r = json.loads(capsys.readouterr().out)
    assert len(r["unknown_digits"]) == len(dropped) == 3  # the three SRD channels, by key
    assert {tuple(k[:4]) for k in r["unknown_digits"]} == {(1, 0, 0, 5), (1, 0, 0, 6),
                                                           (1, 0, 0, 7)}
    assert all(k[4] == r["events"] for k in r["unknown_digits"])


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_text("hello\n"), "not a DATE raw file"),
    (lambda p: p.write_bytes(b""), "not a DATE raw file"),
])
def test_a_file_that_is_not_raw_data_is_one_line(tmp_path, capsys, make, reason):
    bad = tmp_path / "notes.dat"
    make(bad)
    assert main(["convert", str(bad), "--map", str(EMULATED_MAP), "--out",
                 str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1 and not (tmp_path / "x.h5").exists()


def test_a_map_line_naming_no_channel_of_ours_is_one_line(tmp_path, date_file, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_text('<Map><ChipSADC version="2" runs="0-9">\n  ECAL7 1 0 0 9 9\n</ChipSADC></Map>')
    assert main(["convert", str(date_file), "--map", str(bad), "--out",
                 str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert "ECAL7:9:9" in err and err.count("\n") == 1


def test_a_map_with_na64s_own_detector_names_converts_with_name_translations(
        tmp_path, date_file, capsys):
    renamed = tmp_path / "renamed.xml"
    renamed.write_text(EMULATED_MAP.read_text().replace("  ECAL1 ", "  ECALMAIN "))
    out = tmp_path / "run.h5"
    argv = ["convert", str(date_file), "--map", str(renamed), "--out", str(out)]
    assert main(argv) == 2
    assert "ECALMAIN:" in capsys.readouterr().err
    assert main([*argv, "--name", "ECALMAIN=ECAL1"]) == 0
    assert "problems: none" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:  # argparse's own error, one line
        main([*argv, "--name", "ECALMAIN"])
    assert bad.value.code == 2
    assert "'ECALMAIN' is not THEIRS=OURS" in capsys.readouterr().err


def test_the_trigger_bits_are_the_users_to_give(tmp_path, date_file, capsys):
    """The emulator writes physics as mask bit 0 and calibration as bit 1: with the two swapped,
    the same events convert with their kinds swapped."""
    runs = {}
    for name, extra in (("default", []), ("swapped", ["--trigger-bits",
                                                      "0=calibration,1=physics,2=random,3=led"])):
        out = tmp_path / f"{name}.h5"
        assert main(["convert", str(date_file), "--map", str(EMULATED_MAP), "--out", str(out),
                     *extra]) == 0
        with RunReader(out) as run:
            runs[name] = run.column(L.EVENTS)["trigger"]
    default, swapped = runs["default"], runs["swapped"]
    assert (default == 1).sum() > 100 and (default == 2).sum() > 10
    assert np.array_equal(swapped, np.choose(default, [0, 2, 1, 3, 4]))
    capsys.readouterr()
    with pytest.raises(SystemExit) as bad:
        main(["convert", str(date_file), "--map", str(EMULATED_MAP), "--out",
              str(tmp_path / "x.h5"), "--trigger-bits", "0=beam"])
    assert bad.value.code == 2
    assert "'beam' is not a trigger kind" in capsys.readouterr().err
