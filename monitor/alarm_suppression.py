"""One alarm per problem (``docs/monitor.md``, Root causes): which failing item of a check is
the consequence of another check's failing item. A hot ECAL cell also moves the calibration
peak; a crate that stopped answering also sends no fragments. The root cause is annunciated,
with its guidance; its consequences are shown under it as suppressed, what ISA-18.2 calls
"suppressed by design", and raise nothing while the root fails. No Qt here: the tap runs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from daq.core.detector import Detector

Explains = Callable[[str, str, Detector], bool]  # (root's item, consequence's item, map)

#: the gain-drift items that the ECAL's energy enters: the electrons' E/E_beam
ECAL_ENERGY_ITEMS = ("calibration peak", "along the spill")
SOURCE_PROCESS = re.compile(r"source-(\d+|all)")


def own_pulses_or_ecal_energy(root: str, item: str, detector: Detector) -> bool:
    """A channel's fault moves its own LED pulses and, for an ECAL cell, the electrons'
    energy."""
    if item == root:
        return True
    try:
        ecal = detector.channel(root).detector.startswith("ECAL")
    except KeyError:
        return False
    return ecal and item in ECAL_ENERGY_ITEMS


def crate_of_process(root: str, item: str, detector: Detector) -> bool:
    """A source process (``source-3``, or ``source-all`` replaying every crate) and the
    crate's item (``source 3``)."""
    m = SOURCE_PROCESS.fullmatch(root)
    return m is not None and (m.group(1) == "all" or item == f"source {m.group(1)}")


def channels_of_process(root: str, item: str, detector: Detector) -> bool:
    """A source process (as :func:`crate_of_process`) and its crate's channels' hits."""
    return crate_of_process(root, f"source {_source(item, detector)}", detector)


def feed_of_process(root: str, item: str, detector: Detector) -> bool:
    """The processes the monitor's events pass through: a silent one starves the feed."""
    return root == "builder" or root == "writer" or root == "tap" or root.startswith(
        "worker-") or SOURCE_PROCESS.fullmatch(root) is not None


def channels_of_crate(root: str, item: str, detector: Detector) -> bool:
    """A crate missing from events (``source 3``) and its channels' hits."""
    try:
        return root == f"source {detector.source_of(item)}"
    except KeyError:
        return False


@dataclass(frozen=True)
class Consequence:
    root: str  # the check whose failing item is the cause
    consequence: str  # the check that follows from it
    explains: Explains
    why: str  # one line for the crew


RULES = (
    Consequence("hot channel", "gain drift", own_pulses_or_ecal_energy,
                "a hot cell's pulses add to its LED pulses and, in the ECAL, to every "
                "electron's energy"),
    Consequence("dead channel", "gain drift", own_pulses_or_ecal_energy,
                "a dead cell has no LED pulse and takes its share from every electron"),
    Consequence("pedestal jump", "gain drift", own_pulses_or_ecal_energy,
                "a pedestal off moves the cell's pulses and, in the ECAL, the electrons' "
                "energy"),
    Consequence("incomplete events", "dead channel", channels_of_crate,
                "a crate missing from events takes its channels' hits with it"),
    Consequence("process not answering", "incomplete events", crate_of_process,
                "a crate that does not answer sends no fragments"),
    Consequence("process not answering", "dead channel",
                channels_of_process,
                "a crate that does not answer sends no hits"),
    Consequence("process not answering", "monitor feed stale", feed_of_process,
                "a process the events pass through is silent"),
    Consequence("run error", "incomplete events", crate_of_process,
                "a crate the run lost sends no fragments"),
    Consequence("run error", "dead channel",
                channels_of_process,
                "a crate the run lost sends no hits"),
    Consequence("run error", "monitor feed stale", feed_of_process,
                "a process the events pass through is lost"),
    Consequence("run error", "process not answering", lambda root, item, det: root == item,
                "the process the run lost"),
    Consequence("run storage", "run error",
                lambda root, item, det: root == "write" and item == "writer",
                "a write that failed ends the run"),
)


def _source(channel: str, detector: Detector) -> int | None:
    try:
        return detector.source_of(channel)
    except KeyError:
        return None


def suppress(name: str, items: Mapping[str, tuple[str, str]],
             failing: Mapping[str, Mapping[str, tuple[str, str]]], detector: Detector
             ) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]], list[str]]:
    """Check ``name``'s active ``items`` split into those it raises and those that are the
    consequence of another check's failing item (``failing``: check -> items), each with a
    line saying of what; and the root checks named."""
    kept, suppressed, roots = {}, {}, []
    for key, (severity, text) in items.items():
        cause = next(((rule, root) for rule in RULES if rule.consequence == name
                      for root in failing.get(rule.root, {})
                      if rule.explains(root, key, detector)), None)
        if cause is None:
            kept[key] = (severity, text)
            continue
        rule, root = cause
        suppressed[key] = (severity, f"{text} (consequence of {rule.root}: {root}; "
                                     f"{rule.why})")
        if rule.root not in roots:
            roots.append(rule.root)
    return kept, suppressed, roots
