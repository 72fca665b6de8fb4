"""The NA64 shift-logbook format (``docs/conditions.md``): free text, and cell lines of
``X-Y-M A=<amplitude> HV=<volts>`` groups. A missing value stays missing (None), never zero."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from daq.conditions import ADC_MAX, PMT_RATED_MAX_V
from daq.core.config_schema import in_interval, interval_text
from daq.core.detector import Detector

CELL = re.compile(r"\d{1,3}-\d{1,3}-\d{1,3}")
CELL_LINE = re.compile(r"\s*\d{1,3}-\d{1,3}-\d{1,3}\s")
DATE = re.compile(r"\s*(\d{1,2} [A-Z][a-z]+):")
#: a generous bound on a group's characters (``ddd-ddd-ddd A=dddd.d HV=dddd.d`` is 30): a cell
#: line longer than this times the detector's cells holds more groups than it has cells, and
#: is refused before it is split
MAX_GROUP_CHARS = 64


class LogbookFormatError(ValueError):
    """A logbook line cannot be read; the message names the file and line."""


@dataclass
class CellReading:
    cell: str  # the channel's name in the detector map
    alias: str  # as written in the logbook
    amplitude_adc: float | None
    hv_v: float | None
    line: int


@dataclass
class LogbookSection:
    """A header line (e.g. ``HCAL3 HV adjustment and calibration;``) with its cell lines."""

    date: str
    header: str
    line: int
    cells: list[CellReading] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"{self.date}: {self.header}" if self.date else self.header


def read_logbook(path: str | Path, detector: Detector) -> list[LogbookSection]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogbookFormatError(f"{path}: cannot read ({exc})") from None
    return parse_logbook(text, detector, str(path))


def parse_logbook(text: str, detector: Detector, where: str = "<logbook>"
                  ) -> list[LogbookSection]:
    """The sections that hold cell readings; every cell line is checked (a bad one is an
    error naming its line: nothing is imported from a logbook that does not read), a cell is
    read once per section (so no section holds more cells than the detector), and a text
    without any reading is not a logbook."""
    sections: list[LogbookSection] = []
    date, last_text = "", ("", 0)
    current: LogbookSection | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if not CELL_LINE.match(line + " "):
            m = DATE.match(line)
            if m:
                date = m.group(1)
                rest = line[m.end():].strip()
                last_text = (rest, number) if rest else last_text
            else:
                last_text = (line.strip(), number)
            current = None
            continue
        if current is None:
            current = LogbookSection(date, last_text[0], last_text[1])
            sections.append(current)
            seen: dict[str, int] = {}  # cell -> the line it was read on, in this section
        if len(line) > MAX_GROUP_CHARS * detector.n_channels:
            raise LogbookFormatError(f"{where}:{number}: a line of {len(line):,} characters: "
                                     f"more groups than the {detector.n_channels} cells of the "
                                     "detector")
        for reading in _cells(line, number, detector, where):
            if reading.cell in seen:
                raise LogbookFormatError(
                    f"{where}:{number}: cell {reading.alias} ({reading.cell}) is read twice in "
                    f"one entry (line {seen[reading.cell]} too)")
            seen[reading.cell] = number
            current.cells.append(reading)
    if not sections:
        raise LogbookFormatError(f"{where}: no cell readings ('X-Y-M A=<amplitude> "
                                 "HV=<volts>' lines): not a logbook")
    return sections


def _cells(line: str, number: int, detector: Detector, where: str) -> list[CellReading]:
    """The ``X-Y-M A=<amplitude> HV=<volts>`` groups of a line, read token by token (linear
    in the line: a regular expression over the whole line took over 60 s on a line of
    200,000 digits)."""
    tokens = line.split()
    if len(tokens) % 3 or not tokens:
        _bad_line(line, number, where)
    out = []
    for k in range(0, len(tokens), 3):
        alias, a, hv = tokens[k:k + 3]
        if not CELL.fullmatch(alias) or not a.startswith("A=") or not hv.startswith("HV="):
            _bad_line(line, number, where)
        try:
            name = detector.channel(alias).name
        except KeyError:
            raise LogbookFormatError(f"{where}:{number}: cell {alias} is not in the detector "
                                     "map") from None
        out.append(CellReading(
            name, alias, _number(a[2:], "A", where, number, 0.0, ADC_MAX, low_inclusive=True),
            _number(hv[3:], "HV", where, number, 0.0, PMT_RATED_MAX_V), number))
    return out


def _bad_line(line: str, number: int, where: str) -> None:
    shown = line.strip()
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise LogbookFormatError(f"{where}:{number}: expected 'X-Y-M A=<amplitude> "
                             f"HV=<volts>' groups, got {shown!r}")


def _number(text: str, what: str, where: str, line: int, low: float, high: float,
            low_inclusive: bool = False) -> float | None:
    """A reading, or None when not written down (missing, not zero); outside (low, high] (or
    [low, high]) or not finite, the line is refused: no absurd value enters the database."""
    if text == "":
        return None
    shown = text if len(text) <= 20 else text[:17] + "..."
    try:
        value = float(text) if len(text) <= 32 else float("nan")
    except ValueError:
        raise LogbookFormatError(f"{where}:{line}: {what}={shown!r} is not a number") from None
    if not in_interval(value, low, high, low_inclusive):  # also NaN and infinities
        raise LogbookFormatError(f"{where}:{line}: {what}={shown!r} is outside "
                                 f"{interval_text(low, high, low_inclusive)}")
    return value
