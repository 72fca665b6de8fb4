"""The NA64 shift-logbook format: the 2017 excerpt, and logbooks that do not read."""

from pathlib import Path

import pytest

from calib.logbook import LogbookFormatError, parse_logbook, read_logbook

#: A copy of shared/data/hcal-hv-logbook-2017.txt, so that a clean clone tests against it.
EXCERPT = Path(__file__).parent / "data" / "hcal-hv-logbook-2017.txt"


def test_the_2017_excerpt_reads_27_cells_9_without_hv(detector):
    sections = read_logbook(EXCERPT, detector)
    cells = [c for s in sections for c in s.cells]
    assert len(cells) == 27 and sum(c.hv_v is None for c in cells) == 9
    assert all(c.amplitude_adc is not None for c in cells)
    assert [s.header.split()[-5] for s in sections] == ["HCAL3", "HCAL2", "HCAL1"]
    first = cells[0]
    assert (first.alias, first.cell, first.amplitude_adc, first.hv_v) == (
        "0-2-3", "HCAL3:0:2", 2445.0, 942.0)
    assert {c.cell.split(":")[0] for c in cells if c.hv_v is None} == {"HCAL1"}
    assert sections[0].date == "2 September" and sections[2].date == "3 September"


@pytest.mark.parametrize("line, message", [
    ("0-2-3   A=2445 HV=942 1-2-3  A=24x0 HV=910", ":3: A='24x0' is not a number"),
    ("0-2-3   A=2445 HV=942 junk", ":3: expected 'X-Y-M A=<amplitude> HV=<volts>'"),
    ("0-2-7   A=2445 HV=942", ":3: cell 0-2-7 is not in the detector map"),
    ("0-2-3   HV=942", ":3: expected"),
])
def test_a_bad_line_is_named_by_its_number(detector, line, message):
    text = f"2 September:\nHCAL3 HV adjustment;\n{line}\n"
    with pytest.raises(LogbookFormatError, match=message.replace("(", r"\(")):
        parse_logbook(text, detector, "lb.txt")


@pytest.mark.parametrize("reading", ["HV=1e9", "HV=-900", "HV=nan", "HV=inf", "HV=0"])
def test_an_absurd_reading_is_refused_with_its_line(detector, reading):
    text = f"2 September:\nHCAL3 HV adjustment;\n0-2-3   A=2445 {reading}\n"
    with pytest.raises(LogbookFormatError, match=r":3: HV=.* is outside \(0, 2000\]"):
        parse_logbook(text, detector, "lb.txt")


def test_a_line_of_200000_digits_is_one_error(detector):
    """Parsed token by token (a regular expression over the line took over 60 s on it); a
    line longer than any of the detector's cells could fill is refused before it is split."""
    for line in ("9" * 200_000, "0-2-3 A=2445 HV=" + "9" * 200_000, "0-2-3 " * 50_000):
        text = f"HCAL3 HV adjustment;\n{line}\n"
        with pytest.raises(LogbookFormatError) as err:
            parse_logbook(text, detector, "lb.txt")
        if line == "9" * 200_000:  # a line of digits alone is free text, not a reading
            assert str(err.value).startswith("lb.txt: no cell readings")
        else:
            assert str(err.value).startswith("lb.txt:2: a line of ") and len(str(err.value)) < 200


def test_a_line_of_20000_groups_is_refused_not_read_as_one_entry(detector):
    text = "HCAL3 HV adjustment;\n" + " ".join(["0-2-3 A=2445 HV=942"] * 20_000) + "\n"
    with pytest.raises(LogbookFormatError, match=r"lb.txt:2: a line of 399,999 characters: "
                       r"more groups than the 126 cells"):
        parse_logbook(text, detector, "lb.txt")


def test_a_cell_read_twice_in_one_entry_is_refused_with_both_lines(detector):
    text = "HCAL3 HV adjustment;\n0-2-3 A=2445 HV=942\n1-2-3 A=2400 HV=910 0-2-3 A=1 HV=1\n"
    with pytest.raises(LogbookFormatError, match=r"lb.txt:3: cell 0-2-3 \(HCAL3:0:2\) is "
                       r"read twice in one entry \(line 2 too\)"):
        parse_logbook(text, detector, "lb.txt")
    # in two entries, it is two readings
    two = text.replace("1-2-3 A=2400 HV=910 ", "HCAL3 again;\n")
    assert [len(s.cells) for s in parse_logbook(two, detector, "lb.txt")] == [1, 1]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "2 September: a quiet shift\n"])
def test_a_text_without_readings_is_not_a_logbook(detector, text):
    with pytest.raises(LogbookFormatError, match="lb.txt: no cell readings"):
        parse_logbook(text, detector, "lb.txt")
