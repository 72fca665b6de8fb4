"""The snapshot protocol on the tap's PUB endpoint (``docs/monitor.md``): a topic, a JSON
header that describes the arrays, then one part per array. Encoding and validating decoding;
no Qt here."""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daq.core.config_schema import ConfigError
from daq.reco.reco_config import RecoConfig, recorded

PROTOCOL = "na64daq-monitor/1"
TOPIC = b"snapshot"
DTYPES = ("<f8", "<u2", "<i4")  # histogram sums, raw samples, event identifiers
MAX_ARRAYS = 256


class SnapshotError(ValueError):
    """A message that is not a valid snapshot."""


@dataclass
class Snapshot:
    header: dict[str, Any]
    arrays: dict[tuple[str, str], np.ndarray]  # (scope, name) -> array
    received_monotonic_s: float = field(default_factory=time.monotonic)

    def hist(self, name: str, scope: str = "run") -> np.ndarray:
        return self.arrays[(scope, name)]

    @property
    def seq(self) -> int:
        return int(self.header["seq"])

    @functools.cached_property
    def reco_config(self) -> RecoConfig:
        """The reconstruction configuration of the run the histograms come from: the cuts
        and windows the panels draw (checked by :func:`decode`, built once per snapshot)."""
        return recorded(self.header.get("reco_config"))

    def age_s(self, now_monotonic_s: float | None = None) -> float:
        return (now_monotonic_s or time.monotonic()) - self.received_monotonic_s


def since(snap: Snapshot, baseline: Snapshot | None, reset_unix_s: float | None = None
          ) -> Snapshot:
    """What a viewer's reset by hand shows: the run scope counted from ``baseline`` on, said
    in the header (``reset_unix_s``); the spill and window scopes, the strip charts and the
    ledgers as they are (a reset never touches the loss ledger). A baseline of another run
    is no baseline: the tap starts every run from zero itself."""
    if baseline is None or baseline.header.get("run") != snap.header.get("run"):
        return snap
    arrays = dict(snap.arrays)
    for (scope, name), a in snap.arrays.items():
        base = baseline.arrays.get((scope, name))
        if scope == "run" and base is not None and base.shape == a.shape and \
                a.dtype.kind == "f":
            arrays[(scope, name)] = a - base
    header = dict(snap.header, reset_at_spill=baseline.header.get("spill"),
                  reset_unix_s=reset_unix_s or time.time() - baseline.age_s())
    return Snapshot(header, arrays, snap.received_monotonic_s)


def encode(header: dict[str, Any], arrays: list[tuple[str, str, np.ndarray]]) -> list[Any]:
    """Message parts; the arrays' buffers are not copied."""
    specs, parts = [], []
    for name, scope, a in arrays:
        a = np.ascontiguousarray(a)
        specs.append({"name": name, "scope": scope, "dtype": a.dtype.str, "shape": a.shape})
        parts.append(a.data if a.size else b"")
    head = dict(header, protocol=PROTOCOL, arrays=specs)
    return [TOPIC, json.dumps(head, default=_plain).encode(), *parts]


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return None if isinstance(x, np.floating) and not math.isfinite(x) else x.item()
    raise TypeError(f"{type(x).__name__} in a snapshot header")


def decode(parts: list[Any]) -> Snapshot:
    """A snapshot from message parts, or :class:`SnapshotError` naming what is wrong."""
    if len(parts) < 2:
        raise SnapshotError(f"{len(parts)} message parts (a snapshot has at least 2)")
    if bytes(parts[0]) != TOPIC:
        raise SnapshotError(f"topic {bytes(parts[0])[:20]!r} is not {TOPIC!r}")
    try:
        header = json.loads(bytes(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise SnapshotError("header is not JSON") from None
    if not isinstance(header, dict):
        raise SnapshotError("header is not a JSON object")
    if header.get("protocol") != PROTOCOL:
        raise SnapshotError(f"protocol {str(header.get('protocol'))[:40]!r} is not {PROTOCOL}")
    if not isinstance(header.get("seq"), int):
        raise SnapshotError("header without an integer seq")
    specs = header.get("arrays")
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise SnapshotError("header without a list of arrays")
    if len(specs) != len(parts) - 2:
        raise SnapshotError(f"header describes {len(specs)} arrays, the message holds "
                            f"{len(parts) - 2}")
    arrays = {}
    for spec, part in zip(specs, parts[2:], strict=True):
        try:
            name, scope = str(spec["name"]), str(spec["scope"])
            dtype = np.dtype(spec["dtype"])
            shape = tuple(int(n) for n in spec["shape"])
        except (KeyError, TypeError, ValueError):
            raise SnapshotError(f"array description {str(spec)[:60]} is malformed") from None
        if spec["dtype"] not in DTYPES or any(n < 0 for n in shape) or len(shape) > 3:
            raise SnapshotError(f"array {name}: type {spec['dtype']} or shape {shape} refused")
        view = memoryview(getattr(part, "buffer", part))
        buf = view.cast("B") if view.nbytes else b""  # an empty array's view cannot cast
        if len(buf) != math.prod(shape) * dtype.itemsize:
            raise SnapshotError(f"array {scope}/{name}: {len(buf)} bytes for shape {shape}")
        arrays[(scope, name)] = np.frombuffer(buf, dtype).reshape(shape)
    snap = Snapshot(header, arrays)
    try:
        snap.reco_config  # noqa: B018 - checked here, kept for the panels
    except ConfigError as exc:
        raise SnapshotError(str(exc)[:200]) from None
    return snap
