import struct

import numpy as np
import pytest
import zmq
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from daq.core.wire_format import (
    EVENT_DTYPE,
    FRAME_ERROR_REASONS,
    HEADER,
    HEADER_SIZE,
    FrameError,
    FrameKind,
    TriggerKind,
    decode,
    encode_control,
    encode_events,
    to_bytes,
)

# header fields in struct order, with their byte offsets
FIELDS = ["magic", "version", "kind", "flags", "source_id", "n_channels", "n_samples",
          "reserved", "run", "spill", "n_events", "first_event", "time_ns", "payload_length",
          "payload_crc32", "header_crc32"]
OFFSETS = [0, 4, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 52]


def _events(n=5, first=11):
    ev = np.zeros(n, EVENT_DTYPE)
    ev["event"] = np.arange(first, first + n)
    ev["trigger"] = [TriggerKind.PHYSICS, TriggerKind.CALIBRATION, TriggerKind.RANDOM,
                     TriggerKind.PHYSICS, TriggerKind.PHYSICS][:n]
    ev["trigger_time_ns"] = np.arange(n) * 12345 + 7
    return ev


@pytest.fixture
def frame(detector):
    """A valid EVENTS frame of source 1, its samples and its stream form."""
    n_ch = len(detector.source(1).channels)
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 4096, (5, n_ch, detector.samples_per_channel), dtype=np.uint16)
    parts = encode_events(42, 3, 1, 1_500_000_000_000_000_000, _events(), samples)
    return parts, samples, to_bytes(parts)


def _with_header(raw: bytes, field: str, value, fix_crc: bool) -> bytes:
    head = list(HEADER.unpack(raw[:HEADER_SIZE]))
    head[FIELDS.index(field)] = value
    new = HEADER.pack(*head)
    if fix_crc:
        new = new[:52] + struct.pack("<I", crc32c(new[:52]))
    return new + raw[HEADER_SIZE:]


def test_round_trip_parts_and_stream(frame, detector):
    parts, samples, raw = frame
    for form in (parts, raw):
        f = decode(form, detector)
        assert (f.kind, f.run, f.spill, f.source_id) == (FrameKind.EVENTS, 42, 3, 1)
        assert f.time_ns == 1_500_000_000_000_000_000
        assert np.array_equal(f.samples, samples)
        assert np.array_equal(f.events, _events())
        assert f.n_events == 5


def test_samples_are_not_copied(frame):
    parts, samples, _ = frame
    assert np.shares_memory(np.frombuffer(parts[2], np.uint16), samples)  # sending side
    f = decode(parts)
    assert np.shares_memory(f.samples, np.frombuffer(parts[2], np.uint16))  # receiving side


def test_control_frames_round_trip(detector):
    parts = encode_control(FrameKind.EOS, 42, 3, 2, 36, 32, 99, {"sent": 10, "not_sent": 1})
    f = decode(parts, detector)
    assert (f.kind, f.spill, f.source_id, f.time_ns) == (FrameKind.EOS, 3, 2, 99)
    assert f.info == {"sent": 10, "not_sent": 1} and f.n_events == 0
    assert decode(encode_control(FrameKind.SOR, 42, 0, 2, 36, 32, 5)).info == {}
    with pytest.raises(ValueError):
        encode_control(FrameKind.EVENTS, 1, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("field", FIELDS)
def test_every_header_field_corruption_is_caught(frame, detector, field):
    """Any change of any header field, without re-computing the checksum, is refused."""
    _, _, raw = frame
    off = OFFSETS[FIELDS.index(field)]
    bad = bytearray(raw)
    bad[off] ^= 0x01
    with pytest.raises(FrameError):
        decode(bytes(bad), detector)


@pytest.mark.parametrize("field, value, message", [
    ("magic", b"NA65", "bad magic"),
    ("version", 2, "unknown wire-format version 2"),
    ("kind", 9, "unknown frame kind 9"),
    ("flags", 1, "reserved header fields"),
    ("reserved", 1, "reserved header fields"),
    ("source_id", 77, "source id 77 is not in the detector map"),
    ("source_id", 2, "channel count 18 does not match the map"),
    ("n_channels", 17, "channel count 17 does not match the map"),
    ("n_samples", 31, "samples per channel 31 does not match"),
    ("n_events", 4, "payload length"),
    ("first_event", 12, "first_event 12 does not match"),
    ("payload_length", 10, "payload length mismatch"),
    ("payload_crc32", 1, "payload checksum mismatch"),
    ("kind", int(FrameKind.SOS), "SOS frame claims 5 events"),
])
def test_consistent_but_wrong_headers_say_what_is_wrong(frame, detector, field, value, message):
    """Headers whose checksum is right but whose content is wrong (a buggy sender)."""
    _, _, raw = frame
    with pytest.raises(FrameError, match=message):
        decode(_with_header(raw, field, value, fix_crc=True), detector)


@pytest.mark.parametrize("field, value", [("n_channels", 17), ("n_samples", 31)])
def test_shape_fields_against_the_payload_without_a_map(frame, field, value):
    _, _, raw = frame
    with pytest.raises(FrameError, match="does not match 5 events"):
        decode(_with_header(raw, field, value, fix_crc=True))


def test_frames_that_do_not_fit_the_map(detector):
    n_ch = len(detector.source(1).channels)
    short = np.zeros((1, n_ch, 16), np.uint16)
    with pytest.raises(FrameError, match="samples per channel 16 does not match"):
        decode(encode_events(1, 1, 1, 0, _events(1), short), detector)
    over = np.full((1, n_ch, 32), 4096, np.uint16)
    with pytest.raises(FrameError, match="sample value 4096 exceeds"):
        decode(encode_events(1, 1, 1, 0, _events(1), over), detector)
    assert decode(encode_events(1, 1, 1, 0, _events(1), over)).samples.max() == 4096  # no map


@pytest.mark.parametrize("field, value, message", [
    ("trigger", 0, "unknown trigger kind 0"),
    ("trigger", 5, "unknown trigger kind 5"),
    ("flags", 1, "reserved event-table fields"),
    ("reserved", 3, "reserved event-table fields"),
])
def test_event_table_fields(detector, field, value, message):
    ev = _events(3)
    ev[field][1] = value
    samples = np.zeros((3, 18, 32), np.uint16)
    with pytest.raises(FrameError, match=message):
        decode(encode_events(1, 1, 1, 0, ev, samples), detector)


def test_payload_corruption_anywhere_is_caught(frame, detector):
    _, _, raw = frame
    for pos in range(HEADER_SIZE, len(raw), 97):
        bad = bytearray(raw)
        bad[pos] ^= 0x80
        with pytest.raises(FrameError, match="payload checksum mismatch"):
            decode(bytes(bad), detector)


def test_truncated_or_extended_frames(frame):
    _, _, raw = frame
    for cut in [0, 1, 10, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 16, len(raw) - 1]:
        with pytest.raises(FrameError):
            decode(raw[:cut])
    with pytest.raises(FrameError, match="payload length mismatch"):
        decode(raw + b"\0")


def test_part_structure_is_checked(frame):
    parts, _, raw = frame
    with pytest.raises(FrameError, match="1 to 3 message parts"):
        decode([parts[0], parts[1], parts[2], b""])
    with pytest.raises(FrameError, match="1 to 3 message parts"):
        decode([])
    with pytest.raises(FrameError, match="event table part"):
        decode([parts[0], bytes(parts[1])[:-16], bytes(parts[1])[-16:] + bytes(parts[2])])
    with pytest.raises(FrameError, match="header part"):
        decode([raw[:HEADER_SIZE + 16], raw[HEADER_SIZE + 16:]])
    with pytest.raises(FrameError, match="not a buffer"):
        decode([1, 2])
    with pytest.raises(FrameError):
        decode("a string is not a frame")


def test_control_info_must_be_a_json_object():
    good = to_bytes(encode_control(FrameKind.EOR, 1, 0, 1, 18, 32, 0, {"sent": 1}))
    for payload in (b"[1, 2]", b"\xff\xfe", b"{not json"):
        head = _with_header(good[:HEADER_SIZE], "payload_length", len(payload), fix_crc=False)
        head = _with_header(head, "payload_crc32", crc32c(payload), fix_crc=True)
        with pytest.raises(FrameError, match="info is not"):
            decode(head + payload)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_crashes(data):
    with pytest.raises(FrameError):
        decode(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=0, max_size=4))
def test_garbage_parts_never_crash(parts):
    with pytest.raises(FrameError):
        decode(parts)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_byte_corruptions_are_caught(data):
    samples = np.arange(2 * 18 * 32, dtype=np.uint16).reshape(2, 18, 32) % 4096
    raw = bytearray(to_bytes(encode_events(5, 2, 1, 0, _events(2), samples)))
    pos = data.draw(st.integers(0, len(raw) - 1))
    flip = data.draw(st.integers(1, 255))
    raw[pos] ^= flip
    with pytest.raises(FrameError):
        decode(bytes(raw))


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=HEADER_SIZE - 4, max_size=HEADER_SIZE + 64))
def test_valid_header_checksum_with_garbage_fields_never_crashes(body):
    """Garbage that passes the header checksum reaches the later checks, and a named one
    refuses it: never the catch-all around them (a check that is missing), never a frame
    whose header contradicts its parts."""
    head = b"NA64" + struct.pack("<H", 1) + body[: HEADER_SIZE - 10]
    head = head + struct.pack("<I", crc32c(head))
    try:
        frame = decode(head + body[HEADER_SIZE - 10:])
    except FrameError as exc:
        assert exc.reason in FRAME_ERROR_REASONS and exc.reason != "undecodable", exc
    else:  # what passed every check is self-consistent
        if frame.kind is FrameKind.EVENTS:
            assert frame.samples.shape == (frame.n_events, frame.n_channels, frame.n_samples)
            assert frame.n_events > 0
        else:
            assert frame.n_events == 0 and isinstance(frame.info, dict)


def test_over_a_real_zeromq_socket(frame, detector):
    parts, samples, _ = frame
    ctx = zmq.Context()
    try:
        pull = ctx.socket(zmq.PULL)
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push = ctx.socket(zmq.PUSH)
        push.connect(f"tcp://127.0.0.1:{port}")
        push.send_multipart(parts, copy=False)
        received = pull.recv_multipart(copy=False)
        f = decode(received, detector)
        assert np.array_equal(f.samples, samples)
        assert f.samples.base is not None  # a view on the received message, not a copy
        push.close()
        pull.close()
    finally:
        ctx.term()
