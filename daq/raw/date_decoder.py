"""DATE files decoded into events and digits, trusting nothing (``docs/raw-format.md``).

The file is read in windows of ``WINDOW_BYTES`` (memory is bounded whatever a size field
claims); a numba kernel walks each window's events, equipments, S-Link blocks and ADC blocks,
and writes every channel read out as a digit (source, port, chip, channel, samples). Every
malformed structure is counted with its reason and byte offset, and never raises.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from daq.raw import date_format as F

WINDOW_BYTES = 8 << 20
#: problems kept with their offsets (all are counted)
MAX_PROBLEM_RECORDS = 10_000


@njit(cache=True, nogil=True)
def _problem(code, offset_bytes, counts, records, n_records, event_flags):
    counts[code] += 1
    if n_records[0] < records.shape[0]:
        records[n_records[0], 0] = code
        records[n_records[0], 1] = offset_bytes
        n_records[0] += 1
    return event_flags | (1 << code)


@njit(cache=True, nogil=True)
def _adc_blocks(w, lo, hi, base, event_in_burst, source, ev_index, dig, samples, n_dig, n_samp,
                counts, records, n_records, flags, missing):
    """The ADC blocks in words lo..hi-1 of an S-Link block's payload."""
    p = lo
    while p < hi:
        head = w[p]
        key = head >> 30
        size = (head >> 12) & 0xFFF
        chip = (head >> 25) & 3
        port = (head >> 27) & 7
        if key == 0 and size == 1:
            flags = _problem(F.P_MISSING_MODULE, base + 4 * p, counts, records, n_records, flags)
            if missing.shape[0] > 0:
                missing[source & 0x3FF, port, chip] += 1
            p += 1
            continue
        if key != 3 or size < 1 or p + size > hi:
            flags = _problem(F.P_ADC_SIZE, base + 4 * p, counts, records, n_records, flags)
            return flags
        if (head & 0xFFF) != (event_in_burst & 0xFFF):
            flags = _problem(F.P_ADC_EVENT, base + 4 * p, counts, records, n_records, flags)
        q = p + 1
        end = p + size
        while q < end:
            ch_head = w[q]
            n_s = (ch_head >> 16) & 0x1FF
            n_words = (n_s + 1) // 2
            if ch_head >> 30 != 1 or (ch_head >> 25) & 1 or q + 1 + n_words > end:
                flags = _problem(F.P_CHANNEL_HEADER, base + 4 * q, counts, records, n_records,
                                 flags)
                break
            ok = True
            for k in range(n_words):
                key_k = w[q + 1 + k] >> 30
                if key_k != (1 if k == 0 else 2):
                    ok = False
            if not ok:
                flags = _problem(F.P_DATA_WORD, base + 4 * q, counts, records, n_records, flags)
                break
            d = n_dig[0]
            dig[d, 0] = ev_index
            dig[d, 1] = source
            dig[d, 2] = port
            dig[d, 3] = chip
            dig[d, 4] = (ch_head >> 26) & 0xF
            dig[d, 5] = n_s
            dig[d, 6] = n_samp[0]
            for k in range(n_s):
                word = w[q + 1 + k // 2]
                samples[n_samp[0] + k] = (word >> (12 * (k % 2))) & 0xFFF
            n_samp[0] += n_s
            n_dig[0] += 1
            q += 1 + n_words
        p = end
    return flags


@njit(cache=True, nogil=True)
def _slink(w, lo, hi, base, event_in_burst, burst, ev_index, dig, samples, n_dig, n_samp,
           counts, records, n_records, flags, missing):
    """One S-Link block filling words lo..hi-1 exactly (plain or multiplexed)."""
    if hi - lo < 2:
        return _problem(F.P_SLINK_SIZE, base + 4 * lo, counts, records, n_records, flags)
    w0 = w[lo]
    size = w0 & 0xFFFF
    source = (w0 >> 16) & 0x3FF
    if size != hi - lo:
        return _problem(F.P_SLINK_SIZE, base + 4 * lo, counts, records, n_records, flags)
    w1 = w[lo + 1]
    if (w1 & 0xFFFFF) != (event_in_burst & 0xFFFFF) or ((w1 >> 20) & 0x7FF) != (burst & 0x7FF):
        flags = _problem(F.P_SLINK_EVENT, base + 4 * lo, counts, records, n_records, flags)
    if source >= F.MULTIPLEXER_FIRST_SOURCE:
        p = lo + 2
        while p < hi:  # the sub-blocks' sizes must add up exactly
            s = w[p] & 0xFFFF
            if s < 3 or p + s > hi:
                return _problem(F.P_MULTIPLEXER, base + 4 * lo, counts, records, n_records,
                                flags)
            p += s
        p = lo + 2
        while p < hi:
            s = w[p] & 0xFFFF
            flags = _slink(w, p, p + s, base, event_in_burst, burst, ev_index, dig, samples,
                           n_dig, n_samp, counts, records, n_records, flags, missing)
            p += s
        return flags
    if hi - lo < 3:
        return _problem(F.P_SLINK_SIZE, base + 4 * lo, counts, records, n_records, flags)
    if (w[lo + 2] >> 31) & 1:  # the run's first event: a description block, no data
        return flags
    return _adc_blocks(w, lo + 3, hi, base, event_in_burst, source, ev_index, dig, samples,
                       n_dig, n_samp, counts, records, n_records, flags, missing)


@njit(cache=True, nogil=True)
def _header(w, p, n_words):
    """(ok, flavour, header words, type, run, burst, event in run, event in burst, trigger
    mask, s, us, super-event) of the event at word p; ok 0 bad length, -1 unknown version."""
    w3 = np.int64(w[p + 3])
    if w3 < 0xFFFF:  # the old header: word 3 is its length
        head_words = w3 // 4
        if w3 % 4 or head_words < 20 or head_words > n_words:
            return 0, 0, 0, 0, 0, 0, 0, 0, np.uint64(0), 0, 0, False
        sup = (w[p + 10] >> 31) == 1 or (w[p + 12] >> 31) == 1
        return (1, F.OLD, head_words, np.int64(w[p + 2] & 0xFFFF), np.int64(w[p + 4]),
                np.int64(w[p + 5]), np.int64(w[p + 6]), np.int64(w[p + 7]), np.uint64(0),
                np.int64(w[p + 13]), np.int64(w[p + 14]), sup)
    if w3 == F.VERSION_306:
        flavour, need, attr, t_s, t_us = F.V306, 17, 13, 16, -1
    elif w3 == F.VERSION_314:
        flavour, need, attr, t_s, t_us = F.V314, 20, 15, 18, 19
    else:
        return -1, 0, 0, 0, 0, 0, 0, 0, np.uint64(0), 0, 0, False
    head_len = np.int64(w[p + 2])
    head_words = head_len // 4
    if head_len % 4 or head_words < need or head_words > n_words:
        return 0, 0, 0, 0, 0, 0, 0, 0, np.uint64(0), 0, 0, False
    id1 = np.int64(w[p + 7])
    mask = (np.uint64(w[p + 8]) >> np.uint64(1)) | (np.uint64(w[p + 9]) << np.uint64(31))
    return (1, flavour, head_words, np.int64(w[p + 4] & 0xFFFF), np.int64(w[p + 5]),
            id1 >> 20, np.int64(w[p + 6]), id1 & 0xFFFFF, mask, np.int64(w[p + t_s]),
            np.int64(w[p + t_us]) if t_us >= 0 else np.int64(0), (w[p + attr] >> 4) & 1 == 1)


@njit(cache=True, nogil=True)
def _equipments(w, lo, hi, base, old, event_in_burst, burst, ev_index, dig, samples, n_dig,
                n_samp, counts, records, n_records, flags, missing):
    p = lo
    while p < hi:
        if old:
            if p + 3 > hi:
                return _problem(F.P_EQUIPMENT, base + 4 * p, counts, records, n_records, flags)
            ext = w[p] & 0xFFFF
            raw = w[p + 2]
            if ext % 4 or raw % 4:
                return _problem(F.P_EQUIPMENT, base + 4 * p, counts, records, n_records, flags)
            start = p + 3 + ext // 4
            end = start + raw // 4
        else:
            if p + F.EQUIPMENT_WORDS > hi:
                return _problem(F.P_EQUIPMENT, base + 4 * p, counts, records, n_records, flags)
            size = w[p]
            if size % 4 or size < 4 * F.EQUIPMENT_WORDS:
                return _problem(F.P_EQUIPMENT, base + 4 * p, counts, records, n_records, flags)
            start = p + F.EQUIPMENT_WORDS
            end = p + size // 4
        if end > hi or end <= start:
            return _problem(F.P_EQUIPMENT, base + 4 * p, counts, records, n_records, flags)
        if (w[start] & 0xFFFF) != end - start:  # exactly its S-Link block
            flags = _problem(F.P_EQUIPMENT, base + 4 * p, counts, records, n_records, flags)
        else:
            flags = _slink(w, start, end, base, event_in_burst, burst, ev_index, dig, samples,
                           n_dig, n_samp, counts, records, n_records, flags, missing)
        p = end
    return flags


@njit(cache=True, nogil=True)
def decode_window(w, base, at_eof, events, dig, samples, counts, records, n_records, missing):
    """Every whole event in ``w`` (the file's words from byte ``base``): rows of ``events``
    (``EVENT_DTYPE`` fields as columns, see ``_EVENT_COLUMNS``), digits into ``dig`` and
    ``samples``. Returns (events, digits, samples written, words consumed, swapped); what
    is not consumed starts the next window."""
    n = w.shape[0]
    p = 0
    n_ev = 0
    n_dig = np.zeros(1, np.int64)
    n_samp = np.zeros(1, np.int64)
    resyncing = False
    while True:
        if p + 2 > n:
            break
        if w[p + 1] != F.MAGIC:
            if w[p + 1] == F.SWAPPED_MAGIC:
                return n_ev, n_dig[0], n_samp[0], p, True
            if not resyncing:
                _problem(F.P_MAGIC, base + 4 * p, counts, records, n_records, 0)
                resyncing = True
            p += 1
            continue
        size = w[p]
        if size % 4 or size < 4 * 17 or size > F.MAX_EVENT_BYTES:
            if not resyncing:
                _problem(F.P_EVENT_SIZE, base + 4 * p, counts, records, n_records, 0)
                resyncing = True
            p += 1
            continue
        n_words = size // 4
        if p + n_words > n:
            if at_eof:
                _problem(F.P_TRUNCATED, base + 4 * p, counts, records, n_records, 0)
                p = n
            break
        resyncing = False
        if p + 4 > n:
            break
        (ok, flavour, head_words, ev_type, run, burst, ev_run, ev_burst, mask, t_s, t_us,
         sup) = _header(w, p, n_words)
        if (w[p + 2] & F.SWAPPED_FLAG) and flavour == F.OLD and ok == 1:
            return n_ev, n_dig[0], n_samp[0], p, True
        if ok != 1:
            _problem(F.P_HEADER_LENGTH if ok == 0 else F.P_VERSION, base + 4 * p, counts,
                     records, n_records, 0)
            p += n_words
            continue
        first_digit = n_dig[0]
        flags = 0
        lo, hi = p + head_words, p + n_words
        if ev_type == F.END_OF_BURST or ev_type == F.PHYSICS or ev_type == F.CALIBRATION:
            if sup:  # complete sub-events, each checked against this one
                q = lo
                while q < hi:
                    if q + 4 > hi or w[q + 1] != F.MAGIC or w[q] % 4 or w[q] // 4 < 17 \
                            or q + w[q] // 4 > hi:
                        flags = _problem(F.P_SUB_EVENT, base + 4 * q, counts, records,
                                         n_records, flags)
                        break
                    sub_words = w[q] // 4
                    (s_ok, s_fl, s_head, s_type, s_run, s_burst, s_ev_run, s_ev_burst, s_mask,
                     s_s, s_us, s_sup) = _header(w, q, sub_words)
                    if s_ok != 1 or s_run != run or s_burst != burst or s_ev_burst != ev_burst:
                        flags = _problem(F.P_SUB_EVENT, base + 4 * q, counts, records,
                                         n_records, flags)
                    else:
                        flags = _equipments(w, q + s_head, q + sub_words, base, s_fl == F.OLD,
                                            ev_burst, burst, n_ev, dig, samples, n_dig, n_samp,
                                            counts, records, n_records, flags, missing)
                    q += sub_words
            else:
                flags = _equipments(w, lo, hi, base, flavour == F.OLD, ev_burst, burst, n_ev,
                                    dig, samples, n_dig, n_samp, counts, records, n_records,
                                    flags, missing)
        events[n_ev, 0] = base + 4 * p
        events[n_ev, 1] = ev_type
        events[n_ev, 2] = flavour
        events[n_ev, 3] = run
        events[n_ev, 4] = burst
        events[n_ev, 5] = ev_run
        events[n_ev, 6] = ev_burst
        events[n_ev, 7] = np.int64(mask)
        events[n_ev, 8] = t_s
        events[n_ev, 9] = t_us
        events[n_ev, 10] = first_digit
        events[n_ev, 11] = n_dig[0] - first_digit
        events[n_ev, 12] = flags
        n_ev += 1
        p += n_words
    if at_eof and p < n:  # words after the last whole event that make no event
        _problem(F.P_TRAILING, base + 4 * p, counts, records, n_records, 0)
        p = n
    return n_ev, n_dig[0], n_samp[0], p, False


_EVENT_COLUMNS = ("offset", "type", "header", "run", "burst", "event_in_run", "event_in_burst",
                  "trigger_mask", "time_s", "time_us", "first_digit", "n_digits", "flags")
_DIGIT_COLUMNS = ("event", "source", "port", "chip", "channel", "n_samples", "first_sample")


@dataclass
class Decoded:
    """One window's events (``EVENT_DTYPE``), digits (``DIGIT_DTYPE``, ``event`` the row in
    ``events``) and samples (``first_sample`` indexes them)."""

    events: np.ndarray
    digits: np.ndarray
    samples: np.ndarray


@dataclass
class DecodeReport:
    """Every problem counted by reason; the first ``MAX_PROBLEM_RECORDS`` with offsets;
    missing modules by (source, port, chip)."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, int]] = field(default_factory=list)
    missing_modules: dict[tuple[int, int, int], int] = field(default_factory=dict)
    events: int = 0
    bytes: int = 0


@dataclass
class Tallies:
    """What decoding counts across windows: problems by reason (and the first ones with their
    offsets), missing modules by (source, port, chip)."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(F.PROBLEMS), np.int64))
    records: np.ndarray = field(default_factory=lambda: np.zeros((MAX_PROBLEM_RECORDS, 2),
                                                                 np.int64))
    n_records: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    missing: np.ndarray = field(default_factory=lambda: np.zeros((1024, 8, 4), np.int64))


def decode_words(w: np.ndarray, base: int, at_eof: bool, tallies: Tallies
                 ) -> tuple[Decoded, int, bool]:
    """One window of a file's words (from byte ``base``): (what it holds, words consumed,
    byte-swapped). Its scratch is bounded by the window: a digit takes a word at least, a
    sample half a word."""
    n = len(w)
    events = np.zeros((n // 17 + 1, len(_EVENT_COLUMNS)), np.int64)
    dig = np.zeros((n + 1, len(_DIGIT_COLUMNS)), np.int32)  # window-local indices
    samples = np.zeros(2 * n + 2, np.uint16)
    n_ev, n_dig, n_samp, used, swapped = decode_window(
        w, base, at_eof, events, dig, samples, tallies.counts, tallies.records,
        tallies.n_records, tallies.missing)
    return (Decoded(_table(events[:n_ev], F.EVENT_DTYPE, _EVENT_COLUMNS),
                    _table(dig[:n_dig], F.DIGIT_DTYPE, _DIGIT_COLUMNS), samples[:n_samp].copy()),
            int(used), bool(swapped))


class DateReader:
    """Decodes a DATE file window by window: ``for part in reader: ...``; then ``report``.

    With ``follow_s``, the file is followed as DATE writes it: at its end the reader waits for
    more (looking every ``poll_s``) and stops after an end-of-run event, or when nothing has
    been added for ``follow_s``; an event is decoded only once it is whole."""

    def __init__(self, path: str | Path, window_bytes: int = WINDOW_BYTES,
                 follow_s: float | None = None, poll_s: float = 0.2):
        self.path = Path(path)
        self.window_bytes = max(int(window_bytes), 2 * F.MAX_EVENT_BYTES)
        self.follow_s, self.poll_s = follow_s, poll_s
        self.report = DecodeReport()
        try:
            self.size = self.path.stat().st_size
        except OSError as exc:
            raise F.RawFormatError(f"{self.path}: {exc.strerror or exc}") from None
        with open(self.path, "rb") as fh:
            head = fh.read(8)
        if len(head) < 8:
            raise F.RawFormatError(f"{self.path}: not a DATE raw file ({len(head)} bytes)")
        magic = int.from_bytes(head[4:8], "little")
        if magic == F.SWAPPED_MAGIC:
            raise F.RawFormatError(f"{self.path}: a byte-swapped DATE file (big-endian words); "
                                   "not supported")
        if magic != F.MAGIC:
            raise F.RawFormatError(f"{self.path}: not a DATE raw file (no DATE magic in its "
                                   "first event)")

    def __iter__(self) -> Iterator[Decoded]:
        t = Tallies()
        offset = 0
        ended, stalled, idle_since = False, False, time.monotonic()
        with open(self.path, "rb") as fh:
            while True:
                if self.follow_s is not None and not ended:
                    size = os.fstat(fh.fileno()).st_size
                    if size > self.size:
                        self.size, idle_since, stalled = size, time.monotonic(), False
                    elif stalled or offset >= self.size or self.size - offset < 8:
                        if time.monotonic() - idle_since < self.follow_s:
                            time.sleep(self.poll_s)  # DATE has not written more yet
                            continue
                        ended = True  # nothing new for follow_s: what is there is all
                if offset >= self.size:
                    break
                fh.seek(offset)
                raw = fh.read(self.window_bytes)
                usable = len(raw) // 4 * 4
                w = np.frombuffer(raw[:usable], dtype="<u4")
                following = self.follow_s is not None and not ended
                at_eof = offset + len(raw) >= self.size and not following
                decoded, used, swapped = decode_words(w, offset, at_eof, t)
                if swapped:
                    raise F.RawFormatError(f"{self.path}: a byte-swapped DATE event at byte "
                                           f"{offset + 4 * used}; not supported")
                yield decoded
                self.report.events += len(decoded.events)
                ended = ended or bool((decoded.events["type"] == F.END_OF_RUN).any())
                if used == 0 and not at_eof:
                    if following and len(raw) < self.window_bytes:
                        stalled = True  # the next event is still being written
                        continue
                    used = max(1, len(w) - 1)  # nothing whole in a full window: move on
                offset += 4 * used
                if at_eof:
                    if usable < len(raw):  # a last word cut short
                        t.counts[F.P_TRAILING] += 1
                    break
        self.report.bytes = self.size
        self.report.counts = {F.PROBLEMS[k]: int(c) for k, c in enumerate(t.counts) if c}
        self.report.problems = [(F.PROBLEMS[int(c)], int(o))
                                for c, o in t.records[:t.n_records[0]]]
        self.report.missing_modules = {tuple(int(x) for x in k): int(t.missing[k])
                                       for k in zip(*np.nonzero(t.missing), strict=True)}


def _table(columns: np.ndarray, dtype: np.dtype, names: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(columns), dtype)
    for k, name in enumerate(names):
        out[name] = columns[:, k]
    return out
