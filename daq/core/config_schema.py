"""Typed, self-documenting configuration.

Every key is declared once, with its type, default, unit, allowed range and one sentence of
documentation; validation, ``--help`` text and ``na64daq config`` all come from that declaration
(the artdaq lesson: one source of truth). Sections are frozen dataclasses built with :func:`param`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


T = TypeVar("T")


def in_interval(value: float, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True) -> bool:
    """``value`` within [low, high] ((low, high] when not ``low_inclusive``; a bound of None
    is none). NaN lies in no interval, and infinities in no bounded one."""
    above = low is None or (low <= value if low_inclusive else low < value)
    return above and (high is None or value <= high)


def interval_text(low: float | None, high: float | None, low_inclusive: bool = True) -> str:
    """The interval as a reader writes it: ``(0, 2000]``, ``[1, inf)``."""
    lo = "(-inf" if low is None else f"{'[' if low_inclusive else '('}{low:g}"
    return f"{lo}, {'inf)' if high is None else f'{high:g}]'}"


def param(
    default: Any,
    doc: str,
    *,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare one configuration key (use as a dataclass field)."""
    meta = {
        "doc": doc,
        "unit": unit,
        "low": low,
        "high": high,
        "low_inclusive": low_inclusive,
        "choices": choices,
    }
    if isinstance(default, (list, dict)):
        raise TypeError("mutable defaults are not allowed in configuration")
    return dataclasses.field(default=default, metadata=meta)


def section(cls: type[T], doc: str) -> Any:
    """Declare a nested section (use as a dataclass field)."""
    return dataclasses.field(default_factory=cls, metadata={"doc": doc, "section": True})


def _allowed(meta: Mapping[str, Any]) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(meta["choices"])
    low, high = meta.get("low"), meta.get("high")
    lo_op = ">=" if meta.get("low_inclusive", True) else ">"
    if low is not None and high is not None:
        return f"{lo_op} {low:g} and <= {high:g}"
    if low is not None:
        return f"{lo_op} {low:g}"
    if high is not None:
        return f"<= {high:g}"
    return "any value"


def _check_value(key: str, value: Any, typ: Any, meta: Mapping[str, Any]) -> Any:
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    if typ is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} = {value!r}: expected true or false")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} = {value!r}: expected an integer{unit}")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} = {value!r}: expected a number{unit}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key} = {value!r}: expected a finite number{unit}")
    elif typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} = {value!r}: expected a string")
    else:  # pragma: no cover - declaration error, not user error
        raise TypeError(f"unsupported configuration type {typ!r} for {key}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{key} = {value!r}: must be {_allowed(meta)}")
    if not in_interval(value, meta.get("low"), meta.get("high"), meta.get("low_inclusive", True)):
        raise ConfigError(f"{key} = {value!r}{unit}: must be {_allowed(meta)}")
    return value


def build(cls: type[T], values: Mapping[str, Any] | None = None, prefix: str = "") -> T:
    """Build section ``cls`` from a (possibly partial) mapping, validating every key."""
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name not in known:
            where = prefix.rstrip(".") or "top level"
            raise ConfigError(
                f"{prefix}{name}: unknown key in {where}; known keys: {', '.join(sorted(known))}"
            )
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        key = prefix + f.name
        if f.metadata.get("section"):
            sub = values[f.name]
            if not isinstance(sub, Mapping):
                raise ConfigError(f"{key}: expected a table of keys, got {sub!r}")
            kwargs[f.name] = build(hints[f.name], sub, key + ".")
        else:
            kwargs[f.name] = _check_value(key, values[f.name], hints[f.name], f.metadata)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        try:
            check()
        except ConfigError as exc:
            # a configuration with sections (the emulator's, the reconstruction's) names its
            # keys from its own root; inside another (the DAQ's) they get the prefix
            nested = prefix and any(f.metadata.get("section") for f in dataclasses.fields(cls))
            if nested and not str(exc).startswith(prefix):
                raise ConfigError(prefix + str(exc)) from None
            raise
    return obj


def load(cls: type[T], path: str | Path | None = None,
         overrides: Mapping[str, Any] | None = None) -> T:
    """Load ``cls`` from a TOML (or JSON) file, or defaults, and apply dotted-key overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            with path.open("rb") as fh:
                if path.suffix == ".json":  # what the supervisor hands its processes
                    values = json.load(fh)
                else:
                    values = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found") from None
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for dotted, value in (overrides or {}).items():
        node = values
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return build(cls, values)


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """Rows (key, default, unit, allowed, doc) for every key of ``cls``, for help and docs."""
    rows: list[tuple[str, str, str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("section"):
            rows.extend(describe(hints[f.name], prefix + f.name + "."))
        else:
            rows.append(
                (prefix + f.name, repr(f.default), f.metadata.get("unit", ""),
                 _allowed(f.metadata), f.metadata.get("doc", ""))
            )
    return rows


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain nested dict of a configuration, e.g. to store it with a run."""
    return dataclasses.asdict(obj)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


def valid_host(host: str) -> bool:
    """An IP address, or a host name as RFC 1123 allows (letters, digits, inner hyphens)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return HOST_NAME.fullmatch(host) is not None
