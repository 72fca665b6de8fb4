"""New PMT high voltages from measured reference amplitudes (``docs/conditions.md``): gain
proportional to HV^k, so ``HV_new = HV (target / A)^(1/k)``; never outside a channel's limits,
never a larger step than allowed."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class HvProposal:
    cell: str
    amplitude: float | None
    hv_old: float | None
    hv_new: float | None = None
    refused: str | None = None  # why no new HV
    limited: bool = False  # the step was cut to the maximum (continue next iteration)

    def as_dict(self) -> dict:
        d = {"cell": self.cell, "amplitude": self.amplitude, "hv_old": self.hv_old}
        if self.refused:
            d["refused"] = self.refused
        else:
            d["hv_new"] = self.hv_new
            d["limited"] = self.limited
        return d


def propose_hv(cell: str, amplitude: float | None, hv_old: float | None, target_adc: float,
               k: float | None, hv_min_v: float, hv_max_v: float, max_step_v: float | None,
               large_step: str = "split") -> HvProposal:
    """One cell's new set point, or the reason there is none.

    ``large_step``: ``split`` moves at most ``max_step_v`` toward the target (the next
    iteration goes on), ``refuse`` refuses the cell."""
    p = HvProposal(cell, amplitude, hv_old)
    if hv_old is None:
        p.refused = "no current HV (not in the file, nor in the database)"
    elif amplitude is None:
        p.refused = "no measured amplitude"
    elif amplitude <= 0:
        p.refused = f"amplitude {amplitude:g} ADC is not positive"
    elif k is None:
        p.refused = "no HV-gain exponent k (give --k, or set hv_k in the database)"
    elif k <= 0:
        p.refused = f"HV-gain exponent k = {k:g} is not positive"
    if p.refused:
        return p
    try:
        new = hv_old * (target_adc / amplitude) ** (1.0 / k)
    except OverflowError:
        new = math.inf
    if not math.isfinite(new):
        p.refused = f"no finite HV reaches {target_adc:g} ADC from {amplitude:g} ADC"
        return p
    if max_step_v is not None and abs(new - hv_old) > max_step_v:
        if large_step == "refuse":
            p.refused = (f"step {new - hv_old:+.1f} V exceeds the maximum of {max_step_v:g} V")
            return p
        new = hv_old + max_step_v * (1 if new > hv_old else -1)
        p.limited = True
    if not hv_min_v <= new <= hv_max_v:
        p.refused = (f"{new:.1f} V is outside the channel's limits {hv_min_v:g}-{hv_max_v:g} V "
                     "(not clipped)")
        return p
    p.hv_new = round(new, 1)
    return p
