"""Writing the conditions database: new versions of per-channel constants (with the logbook
entry that explains them), HV set points within their limits, and unblinding
(``docs/conditions.md``); reading it is ``daq/conditions.py``."""

from __future__ import annotations

import time
from collections.abc import Mapping

from daq.conditions import (
    KINDS,
    PMT_RATED_MAX_V,
    Conditions,
    ConditionsError,
    LogEntry,
    _number,
)
from daq.reco.channel_templates import ChannelTemplate


class ConditionsWriter(Conditions):
    """The conditions database with its write side: what the calibration scripts use."""

    def write(self, kind: str, values: Mapping[str, float | None], first_run: int,
              last_run: int | None = None, tag: str = "default", author: str = "",
              comment: str = "", entry: LogEntry | None = None) -> int:
        """A new version of ``kind`` (and the logbook entry that explains it) in one
        transaction; returns its id. Channels are the map's names or aliases."""
        return self.write_versions({kind: values}, first_run, last_run, tag, author, comment,
                                   entry)[0]

    def write_versions(self, versions: Mapping[str, Mapping[str, float | None]], first_run: int,
                       last_run: int | None = None, tag: str = "default", author: str = "",
                       comment: str = "", entry: LogEntry | None = None) -> list[int]:
        """New versions of several kinds that belong together (HV set points and the exponent
        they were computed with), with one logbook entry, all or nothing; returns their ids."""
        for kind in versions:
            if kind not in KINDS:
                raise ConditionsError(f"unknown condition kind {kind!r} (known: "
                                      f"{', '.join(KINDS)})")
        if first_run < 0 or (last_run is not None and last_run < first_run):
            raise ConditionsError(f"empty interval of validity: runs {first_run} to {last_run}")
        rows = {kind: [(self._channel(ch), _number(v, kind, ch)) for ch, v in values.items()]
                for kind, values in versions.items()}
        self._check_hv(rows, first_run)
        ids = []
        with self._transaction():
            for kind, kind_rows in rows.items():
                cur = self.sql.execute(
                    "INSERT INTO condition_versions (kind, tag, first_run, last_run, created, "
                    "author, comment) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, tag, first_run, last_run, time.time(), author, comment))
                ids.append(int(cur.lastrowid))
                self.sql.executemany("INSERT INTO condition_values (version, channel, value) "
                                     "VALUES (?, ?, ?)", [(ids[-1], ch, v) for ch, v in kind_rows])
            if entry is not None:
                self._add_entry(entry, ids[0])
        return ids

    def write_templates(self, templates: Mapping[str, ChannelTemplate], first_run: int,
                        last_run: int | None = None, tag: str = "default", author: str = "",
                        comment: str = "", entry: LogEntry | None = None) -> int:
        """A new version of the pulse templates (channel -> template; its value shown per
        channel is the full width at half maximum, ns), its tables and the logbook entry that
        explains it, in one transaction; returns its id."""
        if first_run < 0 or (last_run is not None and last_run < first_run):
            raise ConditionsError(f"empty interval of validity: runs {first_run} to {last_run}")
        if not templates:
            raise ConditionsError("no pulse template to write")
        rows = [(self._channel(ch), t) for ch, t in templates.items()]
        with self._transaction():
            cur = self.sql.execute(
                "INSERT INTO condition_versions (kind, tag, first_run, last_run, created, "
                "author, comment) VALUES ('pulse_template', ?, ?, ?, ?, ?, ?)",
                (tag, first_run, last_run, time.time(), author, comment))
            version = int(cur.lastrowid)
            self.sql.executemany(
                "INSERT INTO condition_values (version, channel, value) VALUES (?, ?, ?)",
                [(version, ch, _number(t.fwhm_ns, "pulse_template", ch)) for ch, t in rows])
            self.sql.executemany(
                "INSERT INTO condition_tables (version, channel, t0_ns, step_ns, pulses, "
                "samples) VALUES (?, ?, ?, ?, ?, ?)",
                [(version, ch, t.t0_ns, t.step_ns, int(t.pulses),
                  t.values.astype("<f8").tobytes()) for ch, t in rows])
            if entry is not None:
                self._add_entry(entry, version)
        return version

    def _check_hv(self, rows: dict[str, list[tuple[str, float | None]]],
                  first_run: int) -> None:
        """HV limits below each other, and set points within them: the limits written now,
        else those in force for ``first_run``, else the hard bounds alone."""
        def limits(kind: str) -> dict[str, float | None]:
            in_force = self.lookup(kind, first_run)
            return {**(in_force.values if in_force else {}), **dict(rows.get(kind, []))}

        lows, highs = limits("hv_min_v"), limits("hv_max_v")
        for ch in set(lows) | set(highs):
            lo, hi = lows.get(ch), highs.get(ch)
            if lo is not None and hi is not None and not lo < hi:
                raise ConditionsError(f"{ch}: HV limits {lo:g}-{hi:g} V: the lower must be "
                                      "below the upper")
        for ch, v in rows.get("hv_v", []):
            lo, hi = lows.get(ch), highs.get(ch)
            if v is not None and ((lo is not None and v < lo) or (hi is not None and v > hi)):
                raise ConditionsError(f"{ch}: HV {v:g} V is outside its limits "
                                      f"{lo if lo is not None else 0:g}-"
                                      f"{hi if hi is not None else PMT_RATED_MAX_V:g} V")

    def unblind(self, first_run: int, last_run: int, author: str, reason: str) -> int:
        """Runs ``first_run``..``last_run`` unblinded, with the logbook entry that records
        who did it, when and why, in one transaction; returns the entry's id. Deliberate:
        the command asks for a confirmation that names the range (``docs/monitor.md``)."""
        if not 0 < first_run <= last_run:
            raise ConditionsError(f"unblinding runs {first_run}-{last_run}: not a range of "
                                  "run numbers")
        if not author.strip() or not reason.strip():
            raise ConditionsError("unblinding needs an author and a reason")
        with self._transaction():
            entry = self._add_entry(LogEntry(
                f"UNBLINDED runs {first_run}-{last_run}: {reason}", author), None)
            self.sql.execute("INSERT INTO unblinding (entry, first_run, last_run) "
                             "VALUES (?, ?, ?)", (entry, first_run, last_run))
        return entry
