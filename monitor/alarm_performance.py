"""Alarm performance as control-room standards measure it (ISA-18.2 / IEC 62682, EEMUA 191;
``docs/monitor.md``): alarms per 10 minutes, floods, chattering and stale alarms, and the
share of the most frequent ones, from the times alarms were raised. The tap keeps a shift of
them and puts the figures in every snapshot; ``bench/alarm_rates.py`` computes the same from
its runs. No Qt here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

WINDOW_S = 600.0  # the standards' 10-minute window
FLOOD = 10  # more than this many alarms in a window is a flood
CHATTER = (3, 60.0)  # 3 activations of one alarm within a minute: chattering
STALE_S = 24 * 3600.0  # active for longer than a day: stale
SHIFT_S = 8 * 3600.0  # what the Alarms tab sums up
TOP = 10


def performance(raised: Iterable[tuple[float, str]], start_s: float, end_s: float,
                active_since: Iterable[tuple[str, float]] = ()) -> dict[str, Any]:
    """From the (time, alarm) of every raise between ``start_s`` and ``end_s`` and the
    alarms active now with the time each rose: the figures, each with its limit."""
    events = sorted((t, n) for t, n in raised if start_s <= t <= end_s)
    span = max(end_s - start_s, 1e-9)
    times = [t for t, _ in events]
    most = floods = lo = 0  # a 10-minute window sliding over the raises
    in_flood = False
    for hi, t in enumerate(times):
        while times[lo] < t - WINDOW_S:
            lo += 1
        n = hi - lo + 1
        most = max(most, n)
        floods += n > FLOOD and not in_flood
        in_flood = n > FLOOD
    chattering = sorted({n for n in {n for _, n in events}
                         if _chatters([t for t, m in events if m == n])})
    counts = Counter(n for _, n in events)
    top = counts.most_common(TOP)
    return {"span_s": span, "alarms": len(events),
            # over less than 10 minutes, the count itself (1 alarm in the first minute was
            # shown as 7.22 per 10 min, over the target)
            "per_10_min": len(events) * WINDOW_S / max(span, WINDOW_S), "limit_per_10_min": 1,
            "most_in_10_min": most, "floods": floods, "flood_above": FLOOD,
            "chattering": chattering,
            "stale": sorted(n for n, since in active_since if end_s - since > STALE_S),
            "top": [{"name": n, "raised": k} for n, k in top],
            "top_share": (sum(k for _, k in top) / len(events)) if events else None}


def _chatters(times: list[float]) -> bool:
    n, window = CHATTER
    return any(times[i + n - 1] - times[i] <= window for i in range(len(times) - n + 1))


def summary_line(p: dict[str, Any]) -> str:
    """One line for the Alarms tab."""
    hours = p["span_s"] / 3600.0
    top = p["top"][0] if p["top"] else None
    return (f"Last {hours:.1f} h: {p['alarms']} alarms, {p['per_10_min']:.2f} per 10 min "
            f"(target <= {p['limit_per_10_min']}), busiest 10 min {p['most_in_10_min']}, "
            f"floods {p['floods']}, chattering {len(p['chattering'])}, stale "
            f"{len(p['stale'])}" + (f"; most frequent: {top['name']} ({top['raised']}, "
                                    f"{p['top_share']:.0%} with the next 9)" if top else ""))
