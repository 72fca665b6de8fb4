"""The conditions database as every process reads it: what is in force for run N (per-channel
constants with intervals of validity, HVs, blinding), the append-only logbook beside them, and
the crew's alarm states, in the run database's SQLite file (``docs/conditions.md``). Writing new
versions, HV limits and unblinding are the calibration's (``calib/conditions.py``)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from daq.core.config_schema import in_interval, interval_text
from daq.core.detector import Detector
from daq.core.run_database import RunDatabase, RunDatabaseError
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.channel_templates import MAX_VALUES, ChannelTemplate, TemplateError
from daq.reco.reco_config import RecoConfig

T = TypeVar("T")

#: [model] the highest voltage the calorimeters' PMTs are rated for: a hard bound that no set
#: point nor limit may pass, whatever the configuration or the database says (the reference
#: gives no figure; 2 kV is the usual rating of the 2-3 inch tubes of such calorimeters)
PMT_RATED_MAX_V = 2000.0
#: PMT gain ~ HV^k: k is about 6-10 for usual tubes (docs/conditions.md); outside this range a
#: k is a typing error (with k = 1e-9 the HV formula overflowed)
HV_K_RANGE = (1.0, 30.0)
#: the MSADC's 12 bits (the shipped map's adc_max): no amplitude or pedestal reads above it
ADC_MAX = 4095

#: What the database keeps per channel, with the unit in the name.
KINDS = ("pedestal_even_adc", "pedestal_odd_adc", "adc_per_gev", "time_offset_ns",
         "reference_adc", "hv_v", "hv_k", "hv_min_v", "hv_max_v")
#: Kinds whose value per channel is a table (``condition_tables``); their scalar value is a
#: summary to show: a pulse template's full width at half maximum in ns. Written only by the
#: script that measures them (``calib templates``), never as bare numbers.
TABLE_KINDS = ("pulse_template",)


#: (low, high, low inclusive) of each kind's values: no value outside enters the database, by
#: any path (logbook import, ``calib set``, ``calib hv``). HVs and their limits lie within
#: (0, PMT_RATED_MAX_V]; an HV within its channel's limits in force as well.
RANGES = {"pedestal_even_adc": (0.0, ADC_MAX, True), "pedestal_odd_adc": (0.0, ADC_MAX, True),
          "adc_per_gev": (0.0, 1e6, False), "time_offset_ns": (-1000.0, 1000.0, True),
          "reference_adc": (0.0, ADC_MAX, False), "hv_v": (0.0, PMT_RATED_MAX_V, False),
          "hv_k": (*HV_K_RANGE, True), "hv_min_v": (0.0, PMT_RATED_MAX_V, False),
          "hv_max_v": (0.0, PMT_RATED_MAX_V, False), "pulse_template": (0.0, 1000.0, False)}

#: the same for what logbook entries record beside the kinds: readings and proposed HVs
LOG_RANGES = {**RANGES, "amplitude_adc": (0.0, ADC_MAX, True), "hv_new_v": RANGES["hv_v"]}


NOTE_KINDS = ("shift", "hv", "calibration", "problem", "other", "alarm", "run")
CREW_NOTE_KINDS = NOTE_KINDS[:5]  # the others the DAQ writes: alarm transitions, run start/stop
MAX_NOTE_CHARS = 2000


class ConditionsError(ValueError):
    """A conditions request is invalid (unknown kind or channel, empty interval, a value out
    of range, ...)."""


@dataclass
class Version:
    id: int
    kind: str
    tag: str
    first_run: int
    last_run: int | None  # None: open-ended
    created: float
    author: str
    comment: str
    values: dict[str, float | None] = field(default_factory=dict)
    #: per channel, the version its value comes from (a look-up merges versions in force)
    sources: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def ids(self) -> str:
        """The versions the values come from, newest first: ``5`` or ``5+4``."""
        return "+".join(str(i) for i in sorted(set(self.sources.values()) or {self.id},
                                               reverse=True))


@dataclass
class LogEntry:
    """A logbook entry to be written; ``values`` are (channel, quantity, value or None)."""

    text: str
    author: str
    run: int | None = None
    time: float | None = None
    values: list[tuple[str, str, float | None]] = field(default_factory=list)


class Conditions:
    def __init__(self, db: RunDatabase, detector: Detector):
        self.db = db
        self.sql = db.db
        self.detector = detector

    def add_entries(self, entries: list[LogEntry]) -> list[int]:
        """Append entries, all or none (a whole imported logbook)."""
        with self._transaction():
            return [self._add_entry(e, None) for e in entries]

    def _add_entry(self, entry: LogEntry, version: int | None) -> int:
        values = [(ch, q, _number(v, q, ch) if q in LOG_RANGES else v)
                  for ch, q, v in entry.values]
        cur = self.sql.execute(
            "INSERT INTO logbook (time, run, author, text, version) VALUES (?, ?, ?, ?, ?)",
            (entry.time or time.time(), entry.run, entry.author, entry.text, version))
        entry_id = int(cur.lastrowid)
        self.sql.executemany(
            "INSERT INTO logbook_values (entry, channel, quantity, value) VALUES (?, ?, ?, ?)",
            [(entry_id, self._channel(ch), q, v) for ch, q, v in values])
        return entry_id

    def add_note(self, text: str, kind: str, author: str, run: int | None) -> int:
        """A shift-crew note in the logbook (``na64daq calib note``, the monitor's form,
        directly or through run control); returns its id."""
        if kind not in NOTE_KINDS:
            raise ConditionsError(f"note kind {kind!r}: one of {', '.join(NOTE_KINDS)}")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTE_CHARS:
            raise ConditionsError(f"a note is 1 to {MAX_NOTE_CHARS} characters of text")
        if not isinstance(author, str) or not author.strip() or len(author) > 100:
            raise ConditionsError("a note needs its author (at most 100 characters)")
        if run is not None and (not isinstance(run, int) or isinstance(run, bool) or run < 1):
            raise ConditionsError(f"note run {run!r}: a run number (1 or more) or none")
        return self.add_entries([LogEntry(f"[{kind}] {text.strip()}", author.strip(), run)])[0]

    def save_alarm_state(self, name: str, state: dict[str, Any]) -> None:
        """How the crew handled alarm ``name`` (latched, acknowledged, shelved: JSON), kept
        so that a new monitor tap restores it (``docs/conditions.md``)."""
        self.sql.execute("INSERT OR REPLACE INTO alarm_state (name, state, updated) "
                         "VALUES (?, ?, ?)", (name, json.dumps(state), time.time()))

    def alarm_states(self) -> dict[str, dict[str, Any]]:
        return {name: json.loads(state) for name, state in
                self.sql.execute("SELECT name, state FROM alarm_state").fetchall()}

    def unblinded(self, run: int) -> bool:
        return self.sql.execute("SELECT 1 FROM unblinding WHERE first_run <= ? AND ? <= "
                                "last_run", (run, run)).fetchone() is not None

    def _transaction(self):
        return _Transaction(self.sql, self.db.path)

    def _channel(self, name: str) -> str:
        try:
            return self.detector.channel(name).name
        except KeyError:
            raise ConditionsError(f"unknown cell {name!r}: not in the detector map") from None

    # -- reading ---------------------------------------------------------------------------
    def lookup(self, kind: str, run: int, tag: str | None = None) -> Version | None:
        """What is in force for ``run``: per channel, the value of the newest version whose
        interval holds the run and that names the channel (a calibration script writes the
        channels it measured: ECAL and HCAL gains come from different runs). The result has
        the newest version's id and interval, and per channel its source version."""
        q = ("SELECT * FROM condition_versions WHERE kind = ? AND first_run <= ? AND "
             "(last_run IS NULL OR last_run >= ?)" + (" AND tag = ?" if tag else "") +
             " ORDER BY id DESC")
        args: tuple = (kind, run, run, tag) if tag else (kind, run, run)
        rows = self._versions(q, args)
        if not rows:
            return None
        values: dict[str, float | None] = {}
        sources: dict[str, int] = {}
        for v in rows:
            for name, value in v.values.items():
                if name not in values:
                    values[name], sources[name] = value, v.id
        return replace(rows[0], values=values, sources=sources)

    def version(self, version_id: int) -> Version:
        rows = self._versions("SELECT * FROM condition_versions WHERE id = ?", (version_id,))
        if not rows:
            raise ConditionsError(f"no condition version {version_id}")
        return rows[0]

    def history(self, kind: str | None = None) -> list[Version]:
        if kind is not None and kind not in KINDS + TABLE_KINDS:
            raise ConditionsError(f"unknown condition kind {kind!r}")
        q = "SELECT * FROM condition_versions" + (" WHERE kind = ?" if kind else "") + \
            " ORDER BY id"
        return self._versions(q, (kind,) if kind else ())

    def _versions(self, query: str, args: tuple) -> list[Version]:
        out = []
        for row in self.sql.execute(query, args).fetchall():
            v = Version(*row)
            v.values = dict(self.sql.execute(
                "SELECT channel, value FROM condition_values WHERE version = ? ORDER BY rowid",
                (v.id,)).fetchall())
            out.append(v)
        return out

    def constants(self, run: int, base: CalibrationConstants) -> CalibrationConstants:
        """The reconstruction's constants for ``run``: ``base`` with every value the database
        has in force for that run; the tag names the versions used (the run file keeps it).

        Gains hold at the HV set points in force for their version's first run (the run they
        were measured with); where the set point for ``run`` differs, the gain follows it as
        HV^k (``hv_k`` in force for ``run``)."""
        gev_per_adc = base.gev_per_adc.copy()
        time_offset = base.time_offset_ns.copy()
        pedestal = base.pedestal_adc.copy()
        used = []
        for kind in ("adc_per_gev", "time_offset_ns", "pedestal_even_adc", "pedestal_odd_adc"):
            v = self.lookup(kind, run)
            if v is None:
                continue
            used.append(f"{kind}@{v.ids}")
            values = v.values
            if kind == "adc_per_gev":
                values, note = self._follow_hv(v, run)
                used[-1] += note
            for name, value in values.items():
                if value is None:
                    continue  # missing: the base value stands
                i = self.detector.index(name)
                if kind == "adc_per_gev":
                    gev_per_adc[i] = 1.0 / value
                elif kind == "time_offset_ns":
                    time_offset[i] = value
                else:
                    pedestal[i, 0 if kind == "pedestal_even_adc" else 1] = value
        templates = dict(base.pulse_templates)
        v = self.lookup("pulse_template", run)
        if v is not None:
            used.append(f"pulse_template@{v.ids}")
            for name, fwhm_ns in v.values.items():
                if fwhm_ns is not None:  # None: this channel keeps the analytic template
                    templates[self.detector.index(name)] = self.pulse_template(v.sources[name],
                                                                               name)
        tag = f"run {run}: " + ", ".join(used) if used else base.tag
        return CalibrationConstants(gev_per_adc, time_offset, pedestal,
                                    base.reference_correction.copy(), tag, templates)

    def pulse_template(self, version: int, channel: str) -> ChannelTemplate:
        """The pulse template ``version`` holds for ``channel`` (checked: a damaged row is a
        :class:`ConditionsError` naming it)."""
        row = self.sql.execute("SELECT t0_ns, step_ns, pulses, samples FROM condition_tables "
                               "WHERE version = ? AND channel = ?", (version, channel)).fetchone()
        where = f"pulse template of {channel} in version {version}"
        if row is None:
            raise ConditionsError(f"{where}: missing")
        t0_ns, step_ns, pulses, blob = row
        if not isinstance(blob, bytes) or len(blob) % 8 or len(blob) > 8 * MAX_VALUES:
            raise ConditionsError(f"{where}: not a table of at most {MAX_VALUES} numbers")
        try:
            return ChannelTemplate(t0_ns, step_ns, np.frombuffer(blob, "<f8"), pulses)
        except (TemplateError, TypeError) as exc:
            raise ConditionsError(f"{where}: {exc}") from None

    def _follow_hv(self, gains: Version, run: int) -> tuple[dict[str, float | None], str]:
        """``gains`` moved from the set points of the run each was measured with (its source
        version's first run) to those of ``run``, and a note for the tag naming the versions
        used (or the channels that could not follow)."""
        now = self.lookup("hv_v", run)
        if now is None:
            return gains.values, ""
        k = self.lookup("hv_k", run)
        then: dict[int, Version | None] = {}  # per source version: the set points it holds at
        out = dict(gains.values)
        moved, stuck, then_ids = 0, [], set()
        for name, g in gains.values.items():
            source = gains.sources.get(name, gains.id)
            if source not in then:
                then[source] = self.lookup("hv_v", self.version(source).first_run)
            measured_at = then[source]
            a = measured_at.values.get(name) if measured_at else None
            b = now.values.get(name)
            if g is None or a is None or b is None or a == b:
                continue
            exponent = k.values.get(name) if k else None
            if exponent is None:
                stuck.append(name)
                continue
            out[name] = g * (b / a) ** exponent
            moved += 1
            then_ids.add(measured_at.ids)
        note = (f" x (hv_v@{now.ids} / hv_v@{'+'.join(sorted(then_ids))})^hv_k@{k.ids}"
                if moved and k else "")
        if stuck:
            note += f" (HV changed, no hv_k: {len(stuck)} gains not scaled)"
        return out, note

    def entries(self, run: int | None = None) -> list[dict[str, Any]]:
        q = "SELECT id, time, run, author, text, version FROM logbook" + (
            " WHERE run = ?" if run is not None else "") + " ORDER BY id"
        out = []
        for row in self.sql.execute(q, () if run is None else (run,)).fetchall():
            e = dict(zip(("id", "time", "run", "author", "text", "version"), row, strict=True))
            e["values"] = [list(r) for r in self.sql.execute(
                "SELECT channel, quantity, value FROM logbook_values WHERE entry = ? "
                "ORDER BY rowid", (e["id"],)).fetchall()]
            out.append(e)
        return out


def _number(value: Any, kind: str, channel: str) -> float | None:
    """A value to store: None (no value), or a finite number within ``RANGES[kind]``."""
    if value is None:
        return None
    low, high, low_inclusive = LOG_RANGES[kind]
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConditionsError(f"{kind} {channel}: {value!r} is not a number") from None
    if not in_interval(v, low, high, low_inclusive):  # also NaN and infinities
        raise ConditionsError(f"{kind} {channel} = {v:g}: outside "
                              f"{interval_text(low, high, low_inclusive)}")
    return v


def ask_database(detector: Detector, question: Callable[[Conditions], T]) -> T | None:
    """``question`` asked of the conditions database (``NA64DAQ_DB`` or the per-user one);
    None when this machine reaches none (a DAQ process then runs with nominal constants)."""
    try:
        db = RunDatabase()
    except RunDatabaseError:
        return None
    try:
        return question(Conditions(db, detector))
    finally:
        db.close()


def in_force(detector: Detector, kind: str, run: int | None) -> np.ndarray | None:
    """Per channel (map order; NaN without a value) the ``kind`` in force for ``run``, or
    None when there is none (or no database)."""
    if run is None:
        return None
    version = ask_database(detector, lambda c: c.lookup(kind, run))
    if version is None:
        return None
    return np.array([np.nan if version.values.get(c.name) is None else
                     float(version.values[c.name]) for c in detector.channels])


def blinded(detector: Detector, run: int | None, configured: bool = True) -> bool:
    """Whether the signal box of ``run`` is hidden from the monitor: always when the
    reconstruction's configuration blinds (``configured``, reco.classes.blinded), unless the
    conditions database records the run as unblinded (no database: blinded)."""
    if not configured:
        return False
    if run is None:
        return True
    return not ask_database(detector, lambda c: c.unblinded(run))


def reconstruction_in_force(detector: Detector, run: int | None, config: RecoConfig,
                            nominal: CalibrationConstants
                            ) -> tuple[RecoConfig, CalibrationConstants]:
    """What run ``run`` is reconstructed with: ``config`` with the blinding the logbook
    records for the run, and ``nominal`` updated by the constants in force for it (no run,
    or no database: as given)."""
    if run is None:
        return config, nominal
    constants = ask_database(detector, lambda c: c.constants(run, nominal)) or nominal
    if config.classes.blinded and not blinded(detector, run):  # recorded as unblinded
        config = replace(config, classes=replace(config.classes, blinded=False))
    return config, constants


def diff(old: Version, new: Version) -> list[tuple[str, float | None, float | None]]:
    """(channel, old value, new value) for every channel that differs."""
    channels = list(dict.fromkeys([*old.values, *new.values]))
    return [(ch, old.values.get(ch), new.values.get(ch)) for ch in channels
            if old.values.get(ch) != new.values.get(ch)]


class _Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``, or ``ROLLBACK`` on any failure: nothing half-done."""

    def __init__(self, sql: sqlite3.Connection, path: object):
        self.sql = sql
        self.path = path

    def __enter__(self) -> None:
        try:
            self.sql.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise RunDatabaseError(f"database {self.path}: {exc} (another process is "
                                   "writing; nothing was written)") from None

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.sql.execute("COMMIT")
        else:
            self.sql.execute("ROLLBACK")
