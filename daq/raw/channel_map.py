"""COMPASS/NA64 channel maps (XML, ``ChipSADC`` elements) read into a lookup from a digit's
key (source id, port, chip, channel) to our detector's channel (``docs/raw-format.md``).

A line names a channel of ours by ``NAME`` alone when that is a channel's name, and as
``NAME:x:y`` otherwise (a calorimeter cell: ``ECAL0 610 0 5 2 3`` is ``ECAL0:2:3``); the
``names`` table renames a map's detector names to ours first."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from daq.core.detector import Detector
from daq.raw.date_format import RawFormatError

#: what the shipped map of our emulated detector is called
EMULATED_MAP = Path(__file__).with_name("na64daq-emulated.xml")


def _number(text: str) -> int:
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def in_runs(runs: str | None, run: int | None) -> bool:
    """Whether ``run`` lies in ``runs`` (``"3610-4310,5000"``; none given: every run)."""
    if not runs or run is None:
        return True
    for part in runs.split(","):
        lo, _, hi = part.strip().partition("-")
        if _number(lo) <= run <= _number(hi or lo):
            return True
    return False


class ChannelMap:
    """Keys -> our channel indices, from every map file that applies to ``run``."""

    def __init__(self, detector: Detector, entries: dict[tuple[int, int, int, int], int]):
        self.detector = detector
        self.entries = entries
        self.lut = np.full((1024, 8, 4, 16), -1, np.int32)
        for (src, port, chip, ch), index in entries.items():
            self.lut[src, port, chip, ch] = index

    @classmethod
    def load(cls, path: str | Path, detector: Detector, run: int | None = None,
             names: dict[str, str] | None = None) -> ChannelMap:
        """From a map file, or a directory of them (recursed, ``*.xml``)."""
        path = Path(path)
        files = sorted(path.rglob("*.xml")) if path.is_dir() else [path]
        if not files:
            raise RawFormatError(f"{path}: no channel map (*.xml) there")
        entries: dict[tuple[int, int, int, int], int] = {}
        for f in files:
            for key, index in _read(f, detector, run, names or {}):
                entries[key] = index  # a later file overrides an earlier one
        if not entries:
            raise RawFormatError(f"{path}: no ChipSADC line of the map applies"
                                 + (f" to run {run}" if run is not None else ""))
        return cls(detector, entries)


def _read(path: Path, detector: Detector, run: int | None,
          names: dict[str, str]) -> list[tuple[tuple[int, int, int, int], int]]:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise RawFormatError(f"{path}: not a readable XML channel map ({exc})") from None
    known = {c.name: k for k, c in enumerate(detector.channels)}
    out = []
    for el in root.iter("ChipSADC"):
        version = el.get("version", "1")
        if version not in ("1", "2"):
            raise RawFormatError(f"{path}: ChipSADC version {version!r} (1 or 2 are read)")
        if not in_runs(el.get("runs"), run):
            continue
        for number, line in enumerate((el.text or "").splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = re.split(r"\s+", line)
            if len(fields) != 6:
                raise RawFormatError(f"{path}: ChipSADC line {number!r}: {line!r} is not "
                                     "'NAME source port chip_channel x y'")
            try:
                src, a, b, x, y = (_number(v) for v in fields[1:])
            except ValueError:
                raise RawFormatError(f"{path}: ChipSADC line {line!r}: not numbers") from None
            if version == "2":  # port, and chip_channel: 64 channels per port
                port, chip, ch = a, b >> 4, b & 0xF
            else:  # chip, channel: chips of 16 channels counted over the ports
                port, chip, ch = a >> 2, a & 3, b
            if not (0 <= src < 1024 and 0 <= port < 8 and 0 <= chip < 4 and 0 <= ch < 16):
                raise RawFormatError(f"{path}: ChipSADC line {line!r}: source, port, chip or "
                                     "channel out of range")
            channel = our_channel(fields[0], x, y, known, names)
            if channel is None:
                raise RawFormatError(f"{path}: ChipSADC line {line!r}: no channel "
                                     f"{names.get(fields[0], fields[0])}:{x}:{y} in the "
                                     "detector map (a name to translate with --name?)")
            out.append(((src, port, chip, ch), known[channel]))
    return out


def our_channel(name: str, x: int, y: int, known: dict[str, int] | set[str],
                names: dict[str, str]) -> str | None:
    """Our channel that NA64's ``name`` with cell ``x``, ``y`` is (its maps and calibration
    tables name a calorimeter cell by detector and cell): ``NAME`` when that is a channel of
    ours, else ``NAME:x:y``; None when neither is. ``names`` translates ``name`` first."""
    ours = names.get(name, name)
    if ours in known:
        return ours
    cell = f"{ours}:{x}:{y}"
    return cell if cell in known else None


def emulated_map_text(detector: Detector) -> str:
    """Our detector's map in COMPASS's grammar: crate ``s`` is source id ``s``; board ``b``
    is HotLink port ``b // 4``, chip ``b % 4``."""
    lines = []
    for c in detector.channels:
        m = re.fullmatch(r"(ECAL\d|HCAL\d):(\d+):(\d+)", c.name)
        name, x, y = (m.group(1), m.group(2), m.group(3)) if m else (c.name, "-1", "-1")
        lines.append(f"  {name:<8} {c.source:>4} {c.port // 4} {(c.port % 4) * 16 + c.channel:>3}"
                     f" {x:>2} {y:>2}")
    return ('<?xml version="1.0"?>\n<!-- na64daq: the emulated detector (daq/core/detector.toml)'
            ' in COMPASS\'s map grammar; NAME source port chip_channel x y -->\n<Map>\n'
            '<ChipSADC version="2" runs="0-999999" options="xy data_format3" '
            'detector="na64daq-emulated">\n' + "\n".join(lines) + "\n</ChipSADC>\n</Map>\n")
