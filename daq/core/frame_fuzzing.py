"""Bad frames for the decoder and the builder: valid frames of the wire format mutated so that
each check is reached (bits flipped with and without the checksums sealed again, fields set
to extremes, parts cut, joined and added). Driven by hypothesis integers in the tests (a few
thousand cases) and by ``bench/frame_fuzz.py`` (100,000, half of them random bytes)."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
from crc32c import crc32c

from daq.core.detector import Detector
from daq.core.wire_format import (
    EVENT_DTYPE,
    HEADER,
    HEADER_SIZE,
    FrameKind,
    TriggerKind,
    encode_control,
    encode_events,
)

_CRC_SPAN = HEADER_SIZE - 4
#: the header's fields, in the order of ``HEADER``
FIELDS = ("magic", "version", "kind", "flags", "source_id", "n_channels", "n_samples",
          "reserved", "run", "spill", "n_events", "first_event", "time_ns", "payload_length",
          "payload_crc32", "header_crc32")
#: extremes per field's width (struct code), for fields set with the checksum sealed again
_EXTREMES = {"B": (0, 1, 2, 5, 9, 255), "H": (0, 1, 2, 17, 18, 31, 32, 65535),
             "I": (0, 1, 5, 2**31, 2**32 - 1), "Q": (0, 1, 2**63, 2**64 - 1)}
_CODES = HEADER.format.lstrip("<").replace("4s", "s")


def valid_frame(detector: Detector, seed: int) -> list[bytes]:
    """A valid frame of a random kind for a random source of ``detector``: 1 to 4 events of
    random samples within the ADC range, or a control frame with or without its info."""
    rng = np.random.default_rng(seed)
    sid = int(rng.choice(detector.source_ids))
    n_ch, n_s = len(detector.source(sid).channels), detector.samples_per_channel
    if rng.random() < 0.25:
        kind = FrameKind(int(rng.choice([int(k) for k in (FrameKind.SOR, FrameKind.SOS,
                                                           FrameKind.EOS, FrameKind.EOR)])))
        info = {"sent": int(rng.integers(0, 1000))} if rng.random() < 0.5 else None
        return [bytes(p) for p in encode_control(kind, 1, 1, sid, n_ch, n_s, 0, info)]
    n = int(rng.integers(1, 5))
    events = np.zeros(n, EVENT_DTYPE)
    events["event"] = np.arange(n) + int(rng.integers(0, 1000))
    events["trigger"] = rng.choice([int(t) for t in TriggerKind], n)
    samples = rng.integers(0, 4096, (n, n_ch, n_s), dtype=np.uint16)
    return [bytes(p) for p in encode_events(1, 1, sid, 0, events, samples)]


def mutate(parts: list[bytes], seed: int) -> list[bytes]:
    """``parts`` damaged one of eight ways; the result may, rarely, still be valid."""
    rng = np.random.default_rng(seed)
    raw = b"".join(parts)
    how = int(rng.integers(0, 8))
    if how == 0:  # bits flipped anywhere, checksums left as they were
        bad = bytearray(raw)
        for _ in range(int(rng.integers(1, 8))):
            bad[int(rng.integers(0, len(bad)))] ^= 1 << int(rng.integers(0, 8))
        return [bytes(bad)]
    if how == 1:  # a header field set to an extreme, the header's checksum sealed again
        i = int(rng.integers(0, len(FIELDS) - 1))
        head = list(HEADER.unpack(raw[:HEADER_SIZE]))
        extremes = _EXTREMES.get(_CODES[i], (b"NA65", b"\0\0\0\0"))
        head[i] = extremes[int(rng.integers(0, len(extremes)))]
        return [_sealed(HEADER.pack(*head)) + raw[HEADER_SIZE:]]
    if how == 2:  # payload bytes changed, both checksums sealed again: the deep checks
        payload = bytearray(raw[HEADER_SIZE:])
        if not payload:
            payload = bytearray(rng.bytes(int(rng.integers(1, 64))))
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(payload)))
            payload[at] = int(rng.choice([0, 1, 5, 0x10, 0x7F, 0xFF]))
        return [_with_payload(raw[:HEADER_SIZE], bytes(payload))]
    if how == 3:  # cut short
        return [raw[: int(rng.integers(0, len(raw)))]]
    if how == 4:  # bytes added at the end
        return [raw + rng.bytes(int(rng.integers(1, 64)))]
    if how == 5:  # the parts split elsewhere, or too many
        cuts = sorted(int(c) for c in rng.integers(0, len(raw) + 1, int(rng.integers(1, 4))))
        return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    if how == 6:  # the payload's length changed with it, checksums sealed again
        payload = raw[HEADER_SIZE:]
        n = int(rng.integers(0, len(payload) + 64))
        payload = (payload + rng.bytes(64))[:n]
        return [_with_payload(raw[:HEADER_SIZE], payload)]
    return [raw[:HEADER_SIZE]] + [rng.bytes(int(rng.integers(0, 80)))  # parts of junk
                                  for _ in range(int(rng.integers(1, 4)))]


def _sealed(head: bytes) -> bytes:
    return head[:_CRC_SPAN] + struct.pack("<I", crc32c(head[:_CRC_SPAN]))


def _with_payload(header: bytes, payload: bytes) -> bytes:
    head = list(HEADER.unpack(header))
    head[FIELDS.index("payload_length")] = len(payload)
    head[FIELDS.index("payload_crc32")] = crc32c(payload)
    return _sealed(HEADER.pack(*head)) + payload


def fuzz(detector: Detector, cases: int, consume: Callable[[list[bytes]], None]) -> None:
    """Hypothesis draws ``cases`` frames, half random bytes in 1 to 3 parts and half mutated
    valid frames, and gives each to ``consume``. Needs hypothesis (the test extras)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    frames = st.one_of(
        st.lists(st.binary(max_size=600), min_size=1, max_size=3),
        st.tuples(st.integers(0, 2**31), st.integers(0, 2**31)).map(
            lambda seeds: mutate(valid_frame(detector, seeds[0]), seeds[1])))

    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(frames)
    def each(parts: list[bytes]) -> None:
        consume(parts)

    each()
