"""The loss ledger: every triggered event is written (complete or incomplete), rejected with a
reason, dropped by a declared policy, or unaccounted, which must be zero
(``docs/run-control.md``)."""

from __future__ import annotations

from typing import Any

COUNTS = ("triggered", "written_complete", "written_incomplete", "rejected",
          "dropped_by_policy", "unaccounted")


def balance(ledger: dict[str, Any]) -> dict[str, Any]:
    """Fill ``unaccounted`` and ``balanced`` from the other counts."""
    accounted = (ledger["written_complete"] + ledger["written_incomplete"] + ledger["rejected"]
                 + ledger["dropped_by_policy"])
    ledger["unaccounted"] = ledger["triggered"] - accounted
    ledger["balanced"] = ledger["unaccounted"] == 0
    return ledger


def written(ledger: dict[str, Any]) -> int | None:
    """Events written, complete or not; a run that did not close has only the writer's last
    count (``written``), or none."""
    if "written_complete" in ledger:
        return int(ledger["written_complete"] or 0) + int(ledger.get("written_incomplete") or 0)
    return ledger.get("written")


def spill_ledger(spill: int, eos_info: dict[str, Any], written: dict[str, int]) -> dict[str, Any]:
    """A spill's ledger from the builder's EOS marker and what the writer wrote (``complete``,
    ``incomplete``, and ``not_written``: refused by the disk, a rejection with its reason)."""
    b = eos_info.get("builder", {})
    ledger = {
        "spill": spill,
        "triggered": int(b.get("triggered", 0)),
        "written_complete": written["complete"],
        "written_incomplete": written["incomplete"],
        "rejected": written["not_written"],
        "dropped_by_policy": int(b.get("dropped_by_policy", 0)),
        # of the incomplete: events some crates read before the stop and others did not
        "cut_by_stop": int(b.get("cut_by_stop", 0)),
        "stages": {"sources": eos_info.get("sources", {}), "builder": b,
                   "writer": dict(written)},
    }
    return balance(ledger)


def sum_ledgers(spills: list[dict[str, Any]], eor_info: dict[str, Any]) -> dict[str, Any]:
    """The run's ledger: the sum of its spills, with the run-level stage counts."""
    total = {k: sum(int(s[k]) for s in spills) for k in COUNTS if k != "unaccounted"}
    total["cut_by_stop"] = sum(int(s.get("cut_by_stop", 0)) for s in spills)
    total["spills"] = len(spills)
    total["stages"] = {"sources": eor_info.get("sources", {}),
                       "builder": eor_info.get("builder", {}),
                       "builder_per_source": eor_info.get("per_source", {})}
    balance(total)
    total["balanced"] = total["balanced"] and all(s["balanced"] for s in spills)
    return total
