"""The run's ledger as the run record keeps it: the writer's closed ledger, or, for a run that
did not close, what the processes' last heartbeats say; with every stage's counters."""

from __future__ import annotations

from typing import Any

from daq.processes.process_table import Process, ProcessTable


def unclosed_ledger(sources: list[Process], writer: Process | None,
                    builder: Process | None) -> dict[str, Any]:
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


def closed_ledger(run: int | None, sources: list[Process], procs: ProcessTable,
                  restarts: dict[str, int]) -> dict[str, Any]:
    """Run ``run``'s ledger at its teardown (``sources``: its crates, already gone from
    ``procs``), with the counters of every stage and the restarts by role."""
    writer = procs.get("writer")
    builder = procs.get("builder")
    tap = procs.get("tap")
    closed = writer is not None and writer.counters.get("run_done") == run
    ledger = writer.counters.get("ledger") if closed else None
    if not isinstance(ledger, dict):
        ledger = unclosed_ledger(sources, writer, builder)
    ledger = dict(ledger)
    stages = dict(ledger.get("stages", {}))
    stages["workers"] = {p.name: p.counters for p in procs.role("worker")}
    stages["restarted"] = dict(restarts)  # by role: worker, tap
    stages["rejected_between_runs"] = (builder.counters.get("rejected_between_runs")
                                       if builder else None)
    stages["writer_process"] = {k: v for k, v in (writer.counters if writer else {}).items()
                                if k not in ("ledger", "spill_ledger")}
    stages["bad_heartbeats"] = dict(procs.bad_heartbeats)
    stages["tap"] = tap.counters if tap else None
    ledger["stages"] = stages
    return ledger
