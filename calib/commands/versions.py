"""Versions as the scripts show them, and where a new one starts."""

from __future__ import annotations

from daq.conditions import Conditions, Version


def next_run(cond: Conditions) -> int:
    last = cond.db.run()
    return (last["run"] + 1) if last else 1


def value_in(version: Version | None, cell: str, default: float | None) -> float | None:
    """A cell's value in a version, else ``default`` (no version, no value, a missing one)."""
    value = version.values.get(cell) if version else None
    return default if value is None else value


def describe_version(v) -> str:
    until = "open" if v.last_run is None else v.last_run
    return (f"version {v.ids}: {v.kind} [{v.tag}] runs {v.first_run}-{until}, "
            f"{len(v.values)} channels, by {v.author or '?'}: {v.comment}")
