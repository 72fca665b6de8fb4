"""DATE raw data written from our own events (``docs/raw-format.md``): so that one decoder
serves emulated and real data, and tests can make every structure (and every damage) they
need. Not a hot path: built word by word in numpy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from daq.raw import date_format as F


def _words(*parts: Iterable[int] | np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=np.uint32).ravel() for p in parts]) \
        if parts else np.zeros(0, np.uint32)


def channel_words(channel: int, samples: np.ndarray) -> np.ndarray:
    """One channel of an ADC block: its header and ceil(n / 2) data words (12-bit samples,
    an odd count padded)."""
    return channels_words(np.array([channel]), np.asarray(samples)[None, None, :])[0]


def channels_words(channels: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Channels of many events at once: ``samples`` (events, channels, n) -> (events, words),
    each channel its header and ceil(n / 2) data words."""
    s = np.asarray(samples, dtype=np.uint32) & 0xFFF
    n_ev, n_ch, n = s.shape
    head = ((s.sum(axis=2) & 0xFFFF) | (n << 16) | ((np.asarray(channels, np.uint32) & 0xF)
                                                       << 26) | (0b01 << 30)).astype(np.uint32)
    if n % 2:
        s = np.concatenate([s, np.zeros((n_ev, n_ch, 1), np.uint32)], axis=2)
    data = s[:, :, 0::2] | (s[:, :, 1::2] << 12)
    if data.shape[2]:
        data |= np.uint32(0b10 << 30)
        data[:, :, 0] = (data[:, :, 0] & 0x3FFFFFFF) | np.uint32(0b01 << 30)
    return np.concatenate([head[:, :, None], data], axis=2).reshape(n_ev, -1)


def adc_block(event_in_burst: int, port: int, chip: int,
              channels: Sequence[tuple[int, np.ndarray]]) -> np.ndarray:
    """An ADC block of one (port, chip): its header and the channels given (the others are
    zero-suppressed)."""
    body = _words(*[channel_words(c, s) for c, s in channels]) if channels else \
        np.zeros(0, np.uint32)
    return _words([adc_header(event_in_burst, port, chip, 1 + len(body))], body)


def adc_header(event_in_burst, port: int, chip: int, size: int):
    """The ADC block's header word(s) for one or many event numbers."""
    return ((np.asarray(event_in_burst, np.uint32) & 0xFFF) | (size << 12) | ((chip & 3) << 25)
            | ((port & 7) << 27) | (0b11 << 30)).astype(np.uint32)


def missing_module(event_in_burst: int, port: int, chip: int) -> np.ndarray:
    """The 1-word block of a module that did not answer (key 00, size 1)."""
    return _words([(event_in_burst & 0xFFF) | (1 << 12) | ((chip & 3) << 25) | ((port & 7) << 27)])


def slink_block(source: int, event_in_burst: int, spill: int, payload: np.ndarray,
                event_type: int = 0, format_byte: int = 3, tcs_error: int = 0x08) -> np.ndarray:
    """An S-Link block: 3 header words and the payload (``format_byte`` bit 7: the run's
    first-event description block)."""
    size = 3 + len(payload)
    w0 = size | ((source & 0x3FF) << 16) | ((event_type & 0x1F) << 26)
    w1 = (event_in_burst & 0xFFFFF) | ((spill & 0x7FF) << 20)
    w2 = ((tcs_error & 0xFF) << 8) | ((format_byte & 0xFF) << 24)
    return _words([w0, w1, w2], payload)


def multiplexer(source: int, event_in_burst: int, spill: int,
                sub_blocks: Sequence[np.ndarray]) -> np.ndarray:
    """A multiplexer's block (source 896-1023): a 2-word header and complete sub-blocks."""
    body = _words(*sub_blocks) if sub_blocks else np.zeros(0, np.uint32)
    w0 = (2 + len(body)) | ((source & 0x3FF) << 16)
    w1 = (event_in_burst & 0xFFFFF) | ((spill & 0x7FF) << 20)
    return _words([w0, w1], body)


def equipment(block: np.ndarray, equipment_id: int, old: bool = False) -> np.ndarray:
    """An equipment holding one S-Link block: DATE 3.x's 7-word header, or the old 3 words."""
    if old:
        return _words([0 | (0 << 16), (equipment_id & 0xFFFF) << 16, 4 * len(block)], block)
    return _words([4 * (F.EQUIPMENT_WORDS + len(block)), 0, equipment_id, 0, 0, 0, 4], block)


def date_event(header: int, event_type: int, run: int, burst: int, event_in_run: int,
               event_in_burst: int, payload: np.ndarray, trigger_mask: int = 1,
               time_s: int = 0, time_us: int = 0, super_event: bool = False) -> np.ndarray:
    """One DATE event with ``header`` (``date_format.OLD``, ``V306`` or ``V314``) around
    ``payload`` (equipments, or complete sub-events for a super-event)."""
    n = F.HEADER_WORDS[header]
    h = np.zeros(n, np.uint32)
    h[1] = F.MAGIC
    pattern = (trigger_mask << 1) | 1  # bit 0: DATE's validity bit
    if header == F.OLD:
        h[2], h[3], h[4], h[5], h[6], h[7] = event_type, 4 * n, run, burst, event_in_run, \
            event_in_burst
        h[10] = (1 << 31) if super_event else 0
        h[13], h[14] = time_s, time_us
    else:
        h[2], h[3], h[4], h[5] = 4 * n, F.VERSION_306 if header == F.V306 else F.VERSION_314, \
            event_type, run
        h[6] = event_in_run
        h[7] = (event_in_burst & 0xFFFFF) | ((burst & 0xFFF) << 20)
        h[8], h[9] = pattern & 0xFFFFFFFF, (pattern >> 32) & 0xFFFFFFFF
        attr = 13 if header == F.V306 else 15  # typeAttribute[2]
        h[attr] = (1 << 4) if super_event else 0
        if header == F.V306:
            h[16] = time_s
        else:
            h[18], h[19] = time_s, time_us
    h[0] = 4 * (n + len(payload))
    return _words(h, payload)


class DateFileWriter:
    """Appends DATE events to a file (``.dat``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.fh = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self.bytes = 0

    def write(self, words: np.ndarray) -> None:
        data = np.ascontiguousarray(words, dtype="<u4").tobytes()
        self.fh.write(data)
        self.bytes += len(data)

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> DateFileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
