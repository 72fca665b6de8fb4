"""The live reach (``docs/monitor.md``): the exposure so far, the selection efficiency measured
online on calibration electrons, and the projected 90 % C.L. reach in epsilon from [004]
Table IV, scaled as 1/sqrt(EOT x efficiency). A projection, assuming no candidate: nothing
of it comes from the blinded box. No Qt."""

from __future__ import annotations

import numpy as np

from monitor.snapshot import Snapshot

#: [004] Table IV: A' mass (MeV) and the 90 % C.L. upper limit on epsilon (WW column)
MASSES_MEV = np.array([1.1, 2.0, 5.0, 16.7, 20.0, 100.0, 200.0, 500.0, 950.0])
EPSILON_LIMIT = np.array([0.21, 0.227, 0.42, 1.2, 1.24, 5.3, 12.6, 37.4, 91.0]) * 1e-4
PUBLISHED_EOT = 4.3e10
PUBLISHED_EFFICIENCY = 0.50


def efficiency(snap: Snapshot, scope: str = "run") -> dict[str, float]:
    """The selection's parts on the run's calibration electrons (``calibration_tags``) and
    their product, each with its binomial error."""
    tags = snap.hist("calibration_tags", scope)
    n = float(tags[0])
    out: dict[str, float] = {"electrons": n}
    if n <= 0:
        return out
    total, rel2 = 1.0, 0.0
    for key, k in (("selection", tags[2]), ("veto", tags[3]), ("hcal", tags[4])):
        p = float(k) / n
        out[key] = p
        out[f"{key}_error"] = float(np.sqrt(max(p * (1 - p), 1.0 / n) / n))
        total *= p
        rel2 += (out[f"{key}_error"] / p) ** 2 if p > 0 else 0.0
    out["total"] = total
    out["total_error"] = total * float(np.sqrt(rel2))
    return out


def projected_limit(eot: float, eff: float) -> np.ndarray:
    """Epsilon reach per mass of MASSES_MEV with ``eot`` electrons at efficiency ``eff``
    (zero background: the signal yield goes as epsilon^2 x EOT x efficiency)."""
    if eot <= 0 or eff <= 0:
        return np.full(len(MASSES_MEV), np.inf)
    return EPSILON_LIMIT * np.sqrt(PUBLISHED_EOT * PUBLISHED_EFFICIENCY / (eot * eff))


def eot_needed(epsilon: float, eff: float, eot_so_far: float = 0.0) -> np.ndarray:
    """Electrons on target still needed, per mass, to reach ``epsilon`` at efficiency
    ``eff`` (0 where reached)."""
    if eff <= 0 or epsilon <= 0:
        return np.full(len(MASSES_MEV), np.inf)
    total = PUBLISHED_EOT * PUBLISHED_EFFICIENCY / eff * (EPSILON_LIMIT / epsilon) ** 2
    return np.maximum(total - eot_so_far, 0.0)
