"""The ledger of a run that did not close, from the processes' last heartbeats."""

from __future__ import annotations

from typing import Any


def unclosed_ledger(sources: list, writer, builder) -> dict[str, Any]:
    """A run that did not close (its writer or builder died): what the last heartbeats say.
    Every crate reads every trigger, so the largest of their counts is what was triggered;
    what the writer had written by its last heartbeat is known, the rest is unaccounted."""
    counts = [int(c.get("triggered", 0)) for p in sources for c in p.counters.values()
              if isinstance(c, dict)]
    triggered = max(counts) if counts else None
    written = writer.counters.get("written_events") if writer else None
    return {"balanced": False, "incomplete": True, "triggered": triggered,
            "written": written,
            "unaccounted": (triggered - written if triggered is not None and written is not None
                            else triggered),
            "stages": {"sources": {p.name: p.counters for p in sources},
                       "builder": builder.counters if builder else None}}
