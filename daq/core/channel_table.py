"""A table of one value per channel, ``{channel = value}`` in TOML (names or logbook aliases):
how HV tables and other per-channel constants are written by hand, loaded by ``calib set`` and
by the emulator's ``gains.hv_table``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from daq.core.detector import Detector


class ValueTableError(ValueError):
    """The table cannot be used; the message names the file and the entry."""


def read_value_table(path: str | Path, detector: Detector) -> dict[str, float]:
    """channel name (as in the map) -> value; every entry a known channel and a number, each
    channel once (by its name or an alias), and at least one."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    except OSError as exc:
        raise ValueTableError(f"cannot read {path} ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueTableError(f"{path} is not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ValueTableError(f"{path} is not a text file (not UTF-8): expected a TOML "
                              "table {channel = value}") from None
    out: dict[str, float] = {}
    given_as: dict[str, str] = {}
    for name, value in table.items():
        try:
            channel = detector.channel(name).name
        except KeyError:
            raise ValueTableError(f"{path}: unknown channel {name!r}") from None
        if channel in given_as:
            raise ValueTableError(f"{path}: {channel} is given twice, as {given_as[channel]!r} "
                                  f"and as {name!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueTableError(f"{path}: {name} = {value!r} is not a number")
        out[channel], given_as[channel] = float(value), name
    if not out:
        raise ValueTableError(f"{path}: no value (expected a TOML table {{channel = value}})")
    return out
