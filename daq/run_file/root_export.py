"""``na64daq export --root``: the reconstruction table as a ROOT TTree (through uproot),
because physicists analyse in ROOT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from daq.run_file import layout as L
from daq.run_file.reader import flat_columns
from daq.run_file.verification import open_verified

TREE = "reco"


def export_root(path: str | Path, out: str | Path | None = None,
                chunk_events: int = 100_000, verify_blocks: bool = True) -> dict[str, Any]:
    """Tree ``reco``: one entry per event, the event table and per-event reconstruction as
    scalar branches (vectors split: ``e_hcal_gev_0``...), the per-channel amplitude, time and
    flags as fixed-size array branches; tree ``spills``: the spill table."""
    try:
        import uproot
    except ImportError:
        raise L.RunFileError("ROOT export needs uproot: pip install 'na64daq[analysis]'") \
            from None
    path = Path(path)
    out = Path(out) if out else path.with_suffix(".root")
    n = 0
    with open_verified(path, verify_blocks) as run, uproot.recreate(out) as root:
        tree = None
        for chunk in run.chunks([L.EVENTS, L.RECO, L.CHANNELS], chunk_events):
            ch = chunk[L.CHANNELS]
            branches = flat_columns(chunk[L.EVENTS]) | flat_columns(chunk[L.RECO]) | {
                f"channel_{name}": ch[name] for name in ch.dtype.names}
            if tree is None:  # a TTree (uproot would make an RNTuple of a plain dict)
                tree = root.mktree(TREE, _types(branches),
                                   title=f"na64daq run {run.run} reconstruction")
            tree.extend(branches)
            n += len(ch)
        spills = flat_columns(run.spills())
        root.mktree("spills", _types(spills), title=f"na64daq run {run.run} spills").extend(
            spills)
    return {"file": str(out), "tree": TREE, "entries": n, "run": run.run}


def _types(branches: dict[str, Any]) -> dict[str, Any]:
    return {k: v.dtype if v.ndim == 1 else np.dtype((v.dtype, v.shape[1:]))
            for k, v in branches.items()}
