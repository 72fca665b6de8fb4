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
