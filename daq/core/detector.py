"""The detector model: channel map, readout sources and digitizer settings.

Everything downstream asks this object, never a literal: which channels form the ECAL main
section, which crate reads a channel, how long a sample is. The map is one TOML file
(``detector.toml`` beside this module); a broken map fails at load with the line and the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

DEFAULT_MAP = "detector.toml"

#: Detector kinds, and the name grammar of their channels.
NAME_PATTERNS: dict[str, re.Pattern[str]] = {
    "BEAM": re.compile(r"S(?P<module>\d)"),
    "SRD": re.compile(r"SRD(?P<module>\d)"),
    "ECAL": re.compile(r"ECAL(?P<module>[01]):(?P<x>[0-5]):(?P<y>[0-5])"),
    "VETO": re.compile(r"VETO(?P<module>\d):(?P<x>[01])"),
    "HCAL": re.compile(r"HCAL(?P<module>[0-3]):(?P<x>[0-2]):(?P<y>[0-2])"),
    "MUON": re.compile(r"MU(?P<module>\d)"),
}
NAME_HELP = {
    "BEAM": "S<n>",
    "SRD": "SRD<module>",
    "ECAL": "ECAL<0|1>:<x 0-5>:<y 0-5>",
    "VETO": "VETO<counter>:<pmt 0|1>",
    "HCAL": "HCAL<module 0-3>:<x 0-2>:<y 0-2>",
    "MUON": "MU<n>",
}
CHANNEL_FIELDS = ("detector", "name", "source", "port", "channel")
MAX_PORT = 63
MAX_BOARD_CHANNEL = 15
ECAL_SIZE = 6
HCAL_SIZE = 3
#: design gains (pulse amplitude per deposited energy at the nominal HV, ADC/GeV) by detector
#: type: what a run is reconstructed with before any calibration, and where the emulator's
#: gains start; ``COUNTER`` is every beam, veto and muon counter
NOMINAL_ADC_PER_GEV = {"ECAL0": 300.0, "ECAL1": 40.0, "HCAL": 30.0, "SRD": 40000.0,
                       "COUNTER": 150000.0}


class DetectorMapError(ValueError):
    """The detector map is unreadable or inconsistent."""


@dataclass(frozen=True)
class Channel:
    """One MSADC channel. ``index`` is its position in the global channel order (file order)."""

    index: int
    name: str
    detector: str
    module: int  # ECAL section (0 preshower, 1 main), HCAL/SRD module, veto counter, n of Sn/MUn
    x: int  # column of an ECAL/HCAL cell, PMT (0/1) of a veto counter, else -1
    y: int  # row for ECAL/HCAL cells, else -1
    source: int
    port: int
    channel: int

    @property
    def alias(self) -> str | None:
        """The shift logbook's ``X-Y-M`` name of an HCAL cell."""
        if self.detector == "HCAL":
            return f"{self.x}-{self.y}-{self.module}"
        return None


@dataclass(frozen=True)
class Source:
    """One readout source (an MSADC crate): it sends one frame per event batch."""

    id: int
    name: str
    description: str
    channels: tuple[int, ...]  # global channel indices, in frame order (port, channel)


class Detector:
    """The loaded channel map; answers the questions of the rest of the code."""

    def __init__(
        self,
        channels: list[Channel],
        sources: list[Source],
        sample_period_ns: float,
        samples_per_channel: int,
        adc_max: int,
        path: str,
        text: str = "",
    ):
        self.channels = tuple(channels)
        self.sources = tuple(sources)
        self.sample_period_ns = sample_period_ns
        self.samples_per_channel = samples_per_channel
        self.adc_max = adc_max
        self.path = path
        self.text = text  # the map as loaded: run files keep it as provenance
        self._by_name = {c.name: c for c in channels}
        self._by_name.update({c.alias: c for c in channels if c.alias})
        self._sources = {s.id: s for s in sources}

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> Detector:
        """Load the map from ``path``, or the map shipped with the package."""
        if path is None:
            text = resources.files("daq.core").joinpath(DEFAULT_MAP).read_text(encoding="utf-8")
            where = f"<package>/{DEFAULT_MAP}"
        else:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise DetectorMapError(f"{path}: cannot read detector map ({exc})") from None
            where = str(path)
        return cls.from_text(text, where)

    @classmethod
    def from_text(cls, text: str, where: str = "<string>") -> Detector:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DetectorMapError(f"{where}: not valid TOML: {exc}") from None
        lines = text.splitlines()

        def fail(line: int | None, msg: str) -> DetectorMapError:
            loc = f"{where}:{line}" if line else where
            return DetectorMapError(f"{loc}: {msg}")

        # digitizer
        dig = doc.get("digitizer")
        dig_line = _line_of(lines, r"^\s*\[digitizer\]")
        if not isinstance(dig, dict):
            raise fail(None, "missing [digitizer] table")
        for key in ("sample_period_ns", "samples_per_channel", "adc_max"):
            if key not in dig:
                raise fail(dig_line, f"[digitizer] is missing field '{key}'")
        unknown = set(dig) - {"sample_period_ns", "samples_per_channel", "adc_max"}
        if unknown:
            raise fail(dig_line, f"[digitizer] has unknown field(s) {sorted(unknown)}")
        period = dig["sample_period_ns"]
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not (
            1.0 <= period <= 1000.0
        ):
            raise fail(_line_of(lines, r"^\s*sample_period_ns"),
                       f"sample_period_ns = {period!r}: must be a number in [1, 1000] ns")
        nsamp = dig["samples_per_channel"]
        if isinstance(nsamp, bool) or not isinstance(nsamp, int) or not (
            8 <= nsamp <= 1024 and nsamp % 2 == 0
        ):
            raise fail(_line_of(lines, r"^\s*samples_per_channel"),
                       f"samples_per_channel = {nsamp!r}: must be an even integer in [8, 1024] "
                       "(the MSADC interleaves even and odd samples)")
        adc_max = dig["adc_max"]
        if isinstance(adc_max, bool) or not isinstance(adc_max, int) or not (
            255 <= adc_max <= 65535
        ):
            raise fail(_line_of(lines, r"^\s*adc_max"),
                       f"adc_max = {adc_max!r}: must be an integer in [255, 65535]")

        # sources
        raw_sources = doc.get("source")
        source_lines = _lines_of(lines, r"^\s*\[\[source\]\]")
        if not isinstance(raw_sources, list) or not raw_sources:
            raise fail(None, "no [[source]] tables: at least one readout source is needed")
        source_info: dict[int, tuple[str, str]] = {}
        for i, s in enumerate(raw_sources):
            line = source_lines[i] if i < len(source_lines) else None
            for key in ("id", "name"):
                if key not in s:
                    raise fail(line, f"[[source]] is missing field '{key}'")
            unknown = set(s) - {"id", "name", "description"}
            if unknown:
                raise fail(line, f"[[source]] has unknown field(s) {sorted(unknown)}")
            sid = s["id"]
            if isinstance(sid, bool) or not isinstance(sid, int) or not 0 <= sid <= 65535:
                raise fail(line, f"source id {sid!r} must be an integer in [0, 65535]")
            if sid in source_info:
                raise fail(line, f"duplicate source id {sid}")
            source_info[sid] = (str(s["name"]), str(s.get("description", "")))

        # channels
        raw = doc.get("channels")
        if not isinstance(raw, list) or not raw:
            raise fail(None, "missing 'channels' array")
        chan_lines = _channel_lines(lines)
        channels: list[Channel] = []
        seen_names: dict[str, int | None] = {}
        seen_addr: dict[tuple[int, int, int], str] = {}
        for i, entry in enumerate(raw):
            line = chan_lines[i] if len(chan_lines) == len(raw) else None
            if not isinstance(entry, dict):
                raise fail(line, f"channel entry #{i + 1} is not a table")
            for key in CHANNEL_FIELDS:
                if key not in entry:
                    raise fail(line, f"channel is missing field '{key}'")
            unknown = set(entry) - set(CHANNEL_FIELDS)
            if unknown:
                raise fail(line, f"channel has unknown field(s) {sorted(unknown)}")
            det, name = entry["detector"], entry["name"]
            if det not in NAME_PATTERNS:
                raise fail(line, f"unknown detector {det!r}; known: {', '.join(NAME_PATTERNS)}")
            if not isinstance(name, str):
                raise fail(line, f"channel name {name!r} is not a string")
            m = NAME_PATTERNS[det].fullmatch(name)
            if m is None:
                raise fail(line, f"channel name {name!r} does not fit detector {det} "
                                 f"(expected {NAME_HELP[det]})")
            if name in seen_names:
                prev = seen_names[name]
                raise fail(line, f"duplicate channel {name!r}"
                                 + (f" (first defined on line {prev})" if prev else ""))
            seen_names[name] = line
            for key, top in (("source", 65535), ("port", MAX_PORT), ("channel", MAX_BOARD_CHANNEL)):
                v = entry[key]
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
                    raise fail(line, f"channel {name}: {key} = {v!r} must be an integer in "
                                     f"[0, {top}]")
            if entry["source"] not in source_info:
                raise fail(line, f"channel {name}: source {entry['source']} is not a [[source]] id")
            addr = (entry["source"], entry["port"], entry["channel"])
            if addr in seen_addr:
                raise fail(line, f"channel {name}: source {addr[0]} port {addr[1]} channel "
                                 f"{addr[2]} is already read by {seen_addr[addr]}")
            seen_addr[addr] = name
            g = m.groupdict()
            channels.append(Channel(
                index=i, name=name, detector=det,
                module=int(g["module"]),
                x=int(g["x"]) if g.get("x") is not None else -1,
                y=int(g["y"]) if g.get("y") is not None else -1,
                source=entry["source"], port=entry["port"], channel=entry["channel"],
            ))

        sources = []
        for sid, (sname, desc) in source_info.items():
            members = sorted((c for c in channels if c.source == sid),
                             key=lambda c: (c.port, c.channel))
            if not members:
                line = source_lines[list(source_info).index(sid)] if source_lines else None
                raise fail(line, f"source {sid} ({sname}) reads no channel")
            sources.append(Source(sid, sname, desc, tuple(c.index for c in members)))
        return cls(channels, sources, float(period), nsamp, adc_max, where, text)

    # -- questions ---------------------------------------------------------------------------
    def nominal_adc_per_gev(self, by_type: dict[str, float] | None = None) -> np.ndarray:
        """Per channel of the map, its type's design gain (ADC/GeV at the nominal HV), from
        ``by_type`` (keys as :data:`NOMINAL_ADC_PER_GEV`) or the design values."""
        by_type = by_type or NOMINAL_ADC_PER_GEV
        return np.array([
            by_type.get(f"ECAL{c.module}" if c.detector == "ECAL" else c.detector,
                        by_type["COUNTER"]) for c in self.channels], np.float64)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def window_ns(self) -> float:
        """Length of the readout window."""
        return self.sample_period_ns * self.samples_per_channel

    def channel(self, name: str) -> Channel:
        """A channel by name (``ECAL1:3:2``) or HCAL logbook alias (``0-1-2``)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown channel {name!r}") from None

    def index(self, name: str) -> int:
        return self.channel(name).index

    def source(self, source_id: int) -> Source:
        try:
            return self._sources[source_id]
        except KeyError:
            raise KeyError(f"unknown source id {source_id}") from None

    def source_of(self, name: str) -> int:
        """Id of the crate that reads channel ``name``."""
        return self.channel(name).source

    @property
    def source_ids(self) -> tuple[int, ...]:
        return tuple(s.id for s in self.sources)

    def select(self, detector: str, module: int | None = None) -> np.ndarray:
        """Global indices of the channels of ``detector`` (and ``module``), in map order."""
        if detector not in NAME_PATTERNS:
            raise KeyError(f"unknown detector {detector!r}")
        return np.array(
            [c.index for c in self.channels
             if c.detector == detector and (module is None or c.module == module)],
            dtype=np.int64,
        )

    @cached_property
    def ecal_preshower(self) -> np.ndarray:
        return self.select("ECAL", 0)

    @cached_property
    def ecal_main(self) -> np.ndarray:
        return self.select("ECAL", 1)

    @cached_property
    def ecal(self) -> np.ndarray:
        """Every ECAL cell, preshower then main: what E_ECAL sums."""
        return np.concatenate([self.ecal_preshower, self.ecal_main])

    @cached_property
    def veto(self) -> np.ndarray:
        return self.select("VETO")

    @cached_property
    def srd(self) -> np.ndarray:
        return self.select("SRD")

    @cached_property
    def beam_counters(self) -> np.ndarray:
        return self.select("BEAM")

    @cached_property
    def muon_counters(self) -> np.ndarray:
        return self.select("MUON")

    def hcal_module(self, module: int) -> np.ndarray:
        return self.select("HCAL", module)

    def grid(self, detector: str, module: int) -> np.ndarray:
        """Channel indices of an ECAL section or HCAL module as a [y, x] array (-1 = no channel)."""
        size = {"ECAL": ECAL_SIZE, "HCAL": HCAL_SIZE}[detector]
        out = np.full((size, size), -1, dtype=np.int64)
        for c in self.channels:
            if c.detector == detector and c.module == module:
                out[c.y, c.x] = c.index
        return out

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for c in self.channels:
            kinds[c.detector] = kinds.get(c.detector, 0) + 1
        parts = ", ".join(f"{k} {v}" for k, v in kinds.items())
        return (f"{self.n_channels} channels ({parts}) on {len(self.sources)} sources; "
                f"{self.samples_per_channel} samples x {self.sample_period_ns:g} ns")


def _line_of(lines: list[str], pattern: str) -> int | None:
    found = _lines_of(lines, pattern)
    return found[0] if found else None


def _lines_of(lines: list[str], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return [i + 1 for i, text in enumerate(lines) if rx.search(text)]


def _channel_lines(lines: list[str]) -> list[int]:
    """1-based line numbers of the inline tables of the ``channels`` array, in order."""
    out: list[int] = []
    inside = False
    for i, text in enumerate(lines):
        stripped = text.split("#", 1)[0].strip()
        if not inside:
            if re.match(r"^channels\s*=\s*\[", stripped):
                inside = True
                stripped = stripped.split("[", 1)[1].strip()
            else:
                continue
        out.extend([i + 1] * stripped.count("{"))
        if stripped.endswith("]") and stripped.count("[") < stripped.count("]"):
            break
    return out
