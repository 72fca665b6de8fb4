"""The NA64 shift-logbook format (``docs/conditions.md``): free text, and cell lines of
``X-Y-M A=<amplitude> HV=<volts>`` groups. A missing value stays missing (None), never zero."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from daq.detector import Detector

CELL_LINE = re.compile(r"\s*\d+-\d+-\d+\s")
GROUP = re.compile(r"(?P<cell>\d+-\d+-\d+)\s+A=(?P<a>\S*)\s+HV=(?P<hv>\S*?)"
                   r"(?=\s+\d+-\d+-\d+\s|\s*$)")  # an empty HV= is followed by the next cell
DATE = re.compile(r"\s*(\d{1,2} [A-Z][a-z]+):")


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
    error naming its line: nothing is imported from a logbook that does not read)."""
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
        current.cells += _cells(line, number, detector, where)
    return sections


def _cells(line: str, number: int, detector: Detector, where: str) -> list[CellReading]:
    out, end = [], 0
    for m in GROUP.finditer(line):
        if line[end:m.start()].strip():
            break
        end = m.end()
        alias = m.group("cell")
        try:
            name = detector.channel(alias).name
        except KeyError:
            raise LogbookFormatError(f"{where}:{number}: cell {alias} is not in the detector "
                                     "map") from None
        out.append(CellReading(name, alias, _number(m.group("a"), "A", where, number),
                               _number(m.group("hv"), "HV", where, number), number))
    if line[end:].strip() or not out:
        raise LogbookFormatError(f"{where}:{number}: expected 'X-Y-M A=<amplitude> "
                                 f"HV=<volts>' groups, got {line.strip()!r}")
    return out


def _number(text: str, what: str, where: str, line: int) -> float | None:
    if text == "":
        return None  # not written down: missing, not zero
    try:
        return float(text)
    except ValueError:
        raise LogbookFormatError(f"{where}:{line}: {what}={text!r} is not a number") from None
