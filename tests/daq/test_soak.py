"""The soak's short version: the whole DAQ time-compressed at 5e6 e-/spill with a monitor
window connected, sampled while it runs, then stopped as the crew does (the long one is
``bench/soak.py``: docs/reliability.md)."""

import pytest

from daq.app.bench.soak import soak

pytestmark = pytest.mark.timeout(300)


def test_a_short_soak_loses_nothing_and_keeps_its_queues_bounded(tmp_path):
    """With the monitor window frozen at a third of the way and killed at two thirds: the DAQ
    takes no notice (the tap publishes to whoever listens)."""
    r = soak(seconds=10.0, warm_up_s=5.0, tmp=tmp_path, sample_s=1.0, window_faults=True)
    assert r["state_at_end"] == "running" and not r["window_alive_at_end"], r["state_at_end"]
    ledger = r["ledger"]
    assert ledger["balanced"] and ledger["unaccounted"] == 0, ledger
    # every source sent everything it triggered: then no event may be incomplete, the stop's
    # last spill included (each crate ends with the spill it is in)
    assert all(c.get("not_sent") == 0 for p in r["sources"].values() for c in p.values()
               if isinstance(c, dict))
    assert ledger["written_incomplete"] == 0 and ledger["written_complete"] > 50_000, ledger
    # bounded: the builder's memory bound, and the workers' credit (2 x 2 workers x
    # prefetch 4 + 4 batches) for what the writer may hold back to write in order
    assert r["queues_max"]["builder.pending_events"] <= 20_000
    assert r["queues_max"]["writer.waiting"] <= 20
    assert len(r["samples"]) >= 12 and "monitor window" in r["samples"][0]["rss_mb"]
    assert "monitor window" not in r["samples"][-1]["rss_mb"]  # killed
    tap = [s["rss_mb"]["tap"] for s in r["samples"]]  # what it publishes to a frozen window
    assert max(tap) - tap[len(tap) // 3] < 50, tap  # stays within its queue's bound
