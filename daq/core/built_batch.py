"""Messages between the builder, the workers and the writer (``docs/run-control.md``).

Internal and trusted less than the wire format's frames but still checked: a malformed message
raises :class:`BatchError`, and the receiving stage counts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daq.core.records import CHANNEL_DTYPE, RECO_DTYPE

BUILT_DTYPE = np.dtype([("spill", "<u4"), ("event", "<u4"), ("trigger", "u1"),
                        ("complete", "u1"), ("missing", "<u2"), ("trigger_time_ns", "<u8")])
MARKERS = ("SOR", "SOS", "EOS", "EOR")


class BatchError(ValueError):
    """A message between DAQ stages is malformed."""


@dataclass
class BuiltBatch:
    header: dict[str, Any]
    events: np.ndarray  # BUILT_DTYPE
    samples: np.ndarray  # (n_events, n_channels, n_samples) uint16
    reco: np.ndarray | None = None  # RECO_DTYPE, once a worker has processed the batch
    channels: np.ndarray | None = None  # (n_events, n_channels) CHANNEL_DTYPE, likewise

    @property
    def seq(self) -> int:
        return int(self.header["seq"])

    @property
    def kind(self) -> str:
        return str(self.header["kind"])


def encode(header: dict[str, Any], events: np.ndarray | None = None,
           samples: np.ndarray | None = None, reco: np.ndarray | None = None,
           channels: np.ndarray | None = None) -> list[Any]:
    """Message parts; array buffers are not copied."""
    parts: list[Any] = [json.dumps(header).encode()]
    if events is not None:
        parts += [np.ascontiguousarray(a).data for a in (events, samples, reco, channels)
                  if a is not None]
    return parts


def marker(seq: int, kind: str, run: int, spill: int, info: dict[str, Any]) -> list[Any]:
    return encode({"seq": seq, "kind": kind, "run": run, "spill": spill, "info": info})


def decode_all(messages: Iterable[Sequence[Any]], n_channels: int, n_samples: int,
               counters: dict[str, Any]) -> Iterator[BuiltBatch]:
    """The decoded batches of ``messages``; a malformed one is counted (``malformed``) and
    skipped, so that one bad message never stops a stage."""
    for parts in messages:
        try:
            yield decode(parts, n_channels, n_samples)
        except BatchError:
            counters["malformed"] = counters.get("malformed", 0) + 1


def decode(parts: Sequence[Any], n_channels: int, n_samples: int) -> BuiltBatch:
    try:
        header = json.loads(bytes(parts[0]))
    except (ValueError, IndexError, TypeError):
        raise BatchError("batch header is not JSON") from None
    if not isinstance(header, dict) or "seq" not in header or "kind" not in header:
        raise BatchError("batch header without seq or kind")
    if header["kind"] in MARKERS:
        if len(parts) != 1:
            raise BatchError(f"{header['kind']} marker with {len(parts)} parts")
        return BuiltBatch(header, np.zeros(0, BUILT_DTYPE),
                          np.zeros((0, n_channels, n_samples), np.uint16))
    if header["kind"] != "events" or len(parts) not in (3, 4, 5):
        raise BatchError(f"batch of kind {header['kind']!r} with {len(parts)} parts")
    n = int(header.get("n_events", -1))
    # a monitor sample carries the waveforms of a few events only (header "waveform_rows")
    n_waveforms = len(header["waveform_rows"]) if "waveform_rows" in header else n
    buffers = [memoryview(getattr(p, "buffer", p)).cast("B") for p in parts[1:]]
    if len(buffers[0]) != n * BUILT_DTYPE.itemsize or \
            len(buffers[1]) != n_waveforms * n_channels * n_samples * 2:
        raise BatchError(f"batch {header['seq']}: part sizes do not match {n} events")
    events = np.frombuffer(buffers[0], BUILT_DTYPE)
    samples = np.frombuffer(buffers[1], np.uint16).reshape(n_waveforms, n_channels, n_samples)
    reco = channels = None
    if len(buffers) >= 3:
        if len(buffers[2]) != n * RECO_DTYPE.itemsize:
            raise BatchError(f"batch {header['seq']}: reconstruction part does not match")
        reco = np.frombuffer(buffers[2], RECO_DTYPE)
    if len(buffers) == 4:
        if len(buffers[3]) != n * n_channels * CHANNEL_DTYPE.itemsize:
            raise BatchError(f"batch {header['seq']}: channel part does not match")
        channels = np.frombuffer(buffers[3], CHANNEL_DTYPE).reshape(n, n_channels)
    return BuiltBatch(header, events, samples, reco, channels)
