"""Keeping time-compressed sources in step: the builder does not read a source that ran too far
ahead of the slowest live one."""

from __future__ import annotations

from daq.core.wire_format import Frame, FrameKind


class SourcePacer:
    """Keeps the sources in step: a source too far ahead of the slowest live one is not read
    (so it is back-pressured) until the others catch up. Without this, time-compressed
    sources sharing a few cores drift apart by more than the building timeout."""

    def __init__(self, source_ids, max_lead: int, stall_s: float):
        self.max_lead = max_lead
        self.stall_s = stall_s
        self.position = dict.fromkeys(source_ids, 0)
        self.last_seen = dict.fromkeys(source_ids, 0.0)
        self.ended: set[int] = set()

    def saw(self, sid: int, frame: Frame, now: float) -> None:
        if frame.kind is FrameKind.SOR:
            for s in self.position:  # a new run: every source gets the stall time to start
                self.position[s] = 0
                self.last_seen[s] = max(self.last_seen[s], now)
            self.ended.clear()
        elif frame.kind is FrameKind.EOR:
            self.ended.add(sid)
        elif frame.kind is FrameKind.EVENTS:
            last = int(frame.events["event"][-1])
            self.position[sid] = max(self.position[sid], frame.spill * 2**32 + last)
        elif frame.kind is FrameKind.EOS:
            self.position[sid] = max(self.position[sid], (frame.spill + 1) * 2**32)
        self.last_seen[sid] = now

    def readable(self, now: float) -> set[int]:
        live = [self.position[s] for s in self.position
                if s not in self.ended and now - self.last_seen[s] < self.stall_s]
        if not live:
            return set(self.position)
        slowest = min(live)
        return {s for s, p in self.position.items() if p - slowest <= self.max_lead}
