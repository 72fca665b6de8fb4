"""Encoding and decoding of frames; the layout is specified in ``docs/wire-format.md``.

Encoding returns a list of message parts whose sample part is the caller's array itself (sent with
``copy=False``); decoding wraps the received buffer with ``numpy.frombuffer``. The decoder trusts
nothing: every field is checked and every failure is a :class:`FrameError`.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from crc32c import crc32c

from daq.core.detector import Detector

MAGIC = b"NA64"
VERSION = 1
HEADER = struct.Struct("<4sHBBHHHHIIIIQQII")
HEADER_SIZE = HEADER.size  # 56
#: a control frame's info is a few counts: longer is not read
MAX_INFO_BYTES = 65536
#: the counts a control frame's info may carry (EOS, EOR): whole numbers from 0 to 2**32 - 1
INFO_COUNTS = ("triggered", "sent", "not_sent")
_HEADER_CRC_SPAN = HEADER_SIZE - 4

EVENT_DTYPE = np.dtype(
    [("event", "<u4"), ("trigger", "u1"), ("flags", "u1"), ("reserved", "<u2"),
     ("trigger_time_ns", "<u8")]
)
SAMPLE_DTYPE = np.dtype("<u2")
assert EVENT_DTYPE.itemsize == 16


class FrameKind(enum.IntEnum):
    SOR = 1  # start of run
    EOR = 2  # end of run
    SOS = 3  # start of spill
    EOS = 4  # end of spill
    EVENTS = 5  # a batch of events from one source


class TriggerKind(enum.IntEnum):
    PHYSICS = 1  # invisible-mode trigger
    CALIBRATION = 2  # open trigger, no ECAL cut
    RANDOM = 3  # random trigger: pedestals, unbiased efficiencies
    LED = 4  # reference light pulse into the calorimeters' PMTs: gains, HV adjustment


def beam_triggered(trigger: np.ndarray) -> np.ndarray:
    """Events triggered by a beam particle (physics or calibration): the ones with physics to
    classify and histogram; random and LED triggers have none."""
    return (trigger == TriggerKind.PHYSICS) | (trigger == TriggerKind.CALIBRATION)


CONTROL_KINDS = frozenset({FrameKind.SOR, FrameKind.EOR, FrameKind.SOS, FrameKind.EOS})
# plain ints: numpy compares them without probing enum attributes (twice as fast a decode)
_TRIGGER_MIN, _TRIGGER_MAX = int(min(TriggerKind)), int(max(TriggerKind))


# what a control frame carries: shared, read-only, so decoding allocates nothing for them
_NO_EVENTS = np.zeros(0, EVENT_DTYPE)
_NO_SAMPLES = np.zeros((0, 0, 0), SAMPLE_DTYPE)
_NO_EVENTS.flags.writeable = _NO_SAMPLES.flags.writeable = False


#: the reason codes of :class:`FrameError`, one per check; ``undecodable`` is the defence in
#: depth around them (an exception of another type: a check that is missing)
FRAME_ERROR_REASONS = frozenset({
    "part", "too short", "magic", "version", "header checksum", "kind", "reserved", "length",
    "payload checksum", "source id", "channel count", "samples per channel", "event count",
    "info", "shape", "first event", "trigger kind", "exceeds the ADC range", "undecodable"})


class FrameError(ValueError):
    """A byte string is not a valid frame; the message says why, and ``reason`` names the
    check that failed in a few words (the builder counts refused frames by it)."""

    def __init__(self, message: str, reason: str = "undecodable"):
        super().__init__(message)
        assert reason in FRAME_ERROR_REASONS, reason
        self.reason = reason


@dataclass
class Frame:
    """A decoded frame. ``samples`` and ``events`` are views on the received buffers."""

    kind: FrameKind
    run: int
    spill: int
    source_id: int
    n_channels: int
    n_samples: int
    time_ns: int
    events: np.ndarray = field(default_factory=lambda: _NO_EVENTS)
    samples: np.ndarray = field(default_factory=lambda: _NO_SAMPLES)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return len(self.events)


def _header(kind: int, source_id: int, n_channels: int, n_samples: int, run: int, spill: int,
            n_events: int, first_event: int, time_ns: int, payload_length: int,
            payload_crc: int) -> bytes:
    head = HEADER.pack(MAGIC, VERSION, kind, 0, source_id, n_channels, n_samples, 0, run, spill,
                       n_events, first_event, time_ns, payload_length, payload_crc, 0)
    return head[:_HEADER_CRC_SPAN] + struct.pack("<I", crc32c(head[:_HEADER_CRC_SPAN]))


def encode_events(run: int, spill: int, source_id: int, time_ns: int, events: np.ndarray,
                  samples: np.ndarray) -> list[Any]:
    """Message parts ``[header, event_table, samples]`` of a batch of events from one source.

    ``samples`` (events x channels x samples, uint16, C-contiguous) is not copied.
    """
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"events must have dtype {EVENT_DTYPE}")
    if samples.ndim != 3 or samples.shape[0] != len(events) or len(events) == 0:
        raise ValueError("samples must be (n_events, n_channels, n_samples) with n_events >= 1")
    samples = np.ascontiguousarray(samples, dtype=SAMPLE_DTYPE)
    table = np.ascontiguousarray(events)
    crc = crc32c(samples, crc32c(table))
    n_ev, n_ch, n_s = samples.shape
    head = _header(FrameKind.EVENTS, source_id, n_ch, n_s, run, spill, n_ev,
                   int(events["event"][0]), time_ns, table.nbytes + samples.nbytes, crc)
    return [head, table.data, samples.data]


def encode_control(kind: FrameKind, run: int, spill: int, source_id: int, n_channels: int,
                   n_samples: int, time_ns: int, info: dict[str, Any] | None = None) -> list[Any]:
    """Message parts of a run-control frame, ``[header]`` or ``[header, info]``."""
    if kind not in CONTROL_KINDS:
        raise ValueError(f"{kind!r} is not a control frame kind")
    payload = json.dumps(info, sort_keys=True).encode() if info else b""
    head = _header(kind, source_id, n_channels, n_samples, run, spill, 0, 0, time_ns,
                   len(payload), crc32c(payload))
    return [head, payload] if payload else [head]


def peek(parts: Sequence[Any]) -> tuple[FrameKind, int, int]:
    """(kind, source id, event count) from a frame that this process encoded itself.

    Not a validation: for routing and counting trusted frames without a checksum pass.
    """
    head = HEADER.unpack_from(_buffer(parts[0]))
    return FrameKind(head[2]), head[4], head[10]


def to_bytes(parts: Sequence[Any]) -> bytes:
    """The stream form of a frame: its parts concatenated."""
    return b"".join(bytes(p) for p in parts)


def _buffer(part: Any) -> memoryview:
    buf = getattr(part, "buffer", part)  # zmq.Frame exposes .buffer
    try:
        view = memoryview(buf)
    except TypeError:
        raise FrameError(f"message part of type {type(part).__name__} is not a buffer",
                         "part") from None
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view


def decode(parts: Sequence[Any] | bytes | bytearray | memoryview,
           detector: Detector | None = None) -> Frame:
    """Decode one frame from its message parts (or its stream form); see ``docs/wire-format.md``.

    With ``detector``, the frame must also fit the map (source, channel and sample counts, ADC
    range). Raises :class:`FrameError`, and nothing else, for any input.
    """
    try:
        return _decode(parts, detector)
    except FrameError:
        raise
    except Exception as exc:  # defence in depth: the contract is one error type
        raise FrameError(f"undecodable frame ({type(exc).__name__}: {exc})") from None


def _decode(parts: Any, detector: Detector | None) -> Frame:
    if isinstance(parts, (bytes, bytearray, memoryview)):
        parts = [parts]
    if not isinstance(parts, Sequence) or isinstance(parts, str):
        raise FrameError("a frame is a list of message parts or a byte string", "part")
    if not 1 <= len(parts) <= 3:
        raise FrameError(f"a frame has 1 to 3 message parts, got {len(parts)}", "part")
    views = [_buffer(p) for p in parts]
    first = views[0]
    if len(first) < HEADER_SIZE:
        raise FrameError(f"frame too short for a header: {len(first)} < {HEADER_SIZE} bytes",
                         "too short")
    head = first[:HEADER_SIZE]
    (magic, version, kind, flags, source_id, n_ch, n_s, reserved, run, spill, n_ev, first_event,
     time_ns, payload_length, payload_crc, header_crc) = HEADER.unpack(head)
    if magic != MAGIC:
        raise FrameError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}", "magic")
    if version != VERSION:
        raise FrameError(f"unknown wire-format version {version} (this reader knows {VERSION})",
                         "version")
    if crc32c(head[:_HEADER_CRC_SPAN]) != header_crc:
        raise FrameError("header checksum mismatch", "header checksum")
    try:
        kind = FrameKind(kind)
    except ValueError:
        raise FrameError(f"unknown frame kind {kind}", "kind") from None
    if flags or reserved:
        raise FrameError("reserved header fields are not zero", "reserved")

    # payload: the rest of part 0 (stream form) or the following parts
    if len(views) == 1:
        payload_parts = [first[HEADER_SIZE:]] if len(first) > HEADER_SIZE else []
    else:
        if len(first) != HEADER_SIZE:
            raise FrameError(f"header part is {len(first)} bytes, expected {HEADER_SIZE}", "part")
        payload_parts = views[1:]
    have = sum(len(v) for v in payload_parts)
    if have != payload_length:
        raise FrameError(f"payload length mismatch: header says {payload_length} bytes, "
                         f"frame has {have}", "length")
    crc = 0
    for v in payload_parts:
        crc = crc32c(v, crc)
    if crc != payload_crc:
        raise FrameError("payload checksum mismatch", "payload checksum")

    if detector is not None:
        try:
            src = detector.source(source_id)
        except KeyError:
            raise FrameError(f"source id {source_id} is not in the detector map",
                             "source id") from None
        if n_ch != len(src.channels):
            raise FrameError(f"channel count {n_ch} does not match the map: source {source_id} "
                             f"({src.name}) has {len(src.channels)} channels", "channel count")
        if n_s != detector.samples_per_channel:
            raise FrameError(f"samples per channel {n_s} does not match the map's "
                             f"{detector.samples_per_channel}", "samples per channel")

    frame = Frame(kind, run, spill, source_id, n_ch, n_s, time_ns)
    if kind in CONTROL_KINDS:
        if n_ev or first_event:
            raise FrameError(f"{kind.name} frame claims {n_ev} events", "event count")
        if len(views) > 2:
            raise FrameError(f"{kind.name} frame has {len(views)} parts, expected 1 or 2", "part")
        if payload_length:
            if payload_length > MAX_INFO_BYTES:
                raise FrameError(f"{kind.name} info of {payload_length} bytes is longer than "
                                 f"{MAX_INFO_BYTES}", "info")
            try:
                info = json.loads(b"".join(bytes(v) for v in payload_parts).decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise FrameError(f"{kind.name} info is not UTF-8 JSON", "info") from None
            if not isinstance(info, dict):
                raise FrameError(f"{kind.name} info is not a JSON object", "info")
            for key in INFO_COUNTS:
                value = info.get(key, 0)
                if type(value) is not int or not 0 <= value < 2**32:
                    raise FrameError(f"{kind.name} info {key!r} is not a count: {value!r}", "info")
            if type(info.get("stopped", False)) is not bool:
                raise FrameError(f"{kind.name} info 'stopped' is not true or false", "info")
            frame.info = info
        return frame

    # EVENTS
    if n_ev == 0:
        raise FrameError("EVENTS frame with no events", "event count")
    if n_ch == 0 or n_s == 0:
        raise FrameError(f"EVENTS frame with {n_ch} channels x {n_s} samples", "shape")
    table_len = n_ev * EVENT_DTYPE.itemsize
    samples_len = n_ev * n_ch * n_s * SAMPLE_DTYPE.itemsize
    if table_len + samples_len != payload_length:
        raise FrameError(f"payload length {payload_length} does not match {n_ev} events x "
                         f"{n_ch} channels x {n_s} samples ({table_len + samples_len} bytes)",
                         "length")
    if len(payload_parts) == 1:
        table_view = payload_parts[0][:table_len]
        samples_view = payload_parts[0][table_len:]
    elif len(payload_parts) == 2:
        table_view, samples_view = payload_parts
        if len(table_view) != table_len:
            raise FrameError(f"event table part is {len(table_view)} bytes, expected {table_len}",
                             "part")
    else:
        raise FrameError("EVENTS frame without payload parts", "part")
    events = np.frombuffer(table_view, dtype=EVENT_DTYPE)
    samples = np.frombuffer(samples_view, dtype=SAMPLE_DTYPE).reshape(n_ev, n_ch, n_s)
    if int(events["event"][0]) != first_event:
        raise FrameError(f"first_event {first_event} does not match the event table "
                         f"({int(events['event'][0])})", "first event")
    trig = events["trigger"]
    if trig.min() < _TRIGGER_MIN or trig.max() > _TRIGGER_MAX:
        bad = int(trig[(trig < _TRIGGER_MIN) | (trig > _TRIGGER_MAX)][0])
        raise FrameError(f"unknown trigger kind {bad} in event table", "trigger kind")
    if events["flags"].any() or events["reserved"].any():
        raise FrameError("reserved event-table fields are not zero", "reserved")
    if detector is not None and int(samples.max()) > detector.adc_max:
        raise FrameError(f"sample value {int(samples.max())} exceeds the ADC range "
                         f"0..{detector.adc_max}", "exceeds the ADC range")
    frame.events = events
    frame.samples = samples
    return frame
