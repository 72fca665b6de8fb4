"""Proof that a run file is what its writer wrote: every block's rows re-read and compared with
the CRC-32C stored beside them (``/blocks``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from crc32c import crc32c

from daq.run_file import layout as L
from daq.run_file.reader import RunReader


def verify(run: RunReader) -> dict[str, Any]:
    """``ok`` is true when every block matches its checksums and no block is missing rows.

    Rows after the last block (a writer killed between a block's data and its checksum row)
    are reported as ``unverified_rows``; they are not counted as verified events."""
    report: dict[str, Any] = {"ok": True, "blocks": 0, "verified_events": 0, "bad_blocks": [],
                              "unverified_rows": 0}
    for f in run.files:
        blocks = f[L.BLOCKS][()]
        n_rows = run.rows(f)
        expected = 0
        for k, b in enumerate(blocks):
            lo, n = int(b["first_row"]), int(b["n_rows"])
            problems = []
            if lo != expected:
                problems.append(f"starts at row {lo}, not {expected}")
            if lo + n > n_rows:
                problems.append(f"rows {lo}-{lo + n} beyond the {n_rows} in the file")
            else:
                for name, crc_field in L.ROW_DATASETS.items():
                    ds = run._get(f, name)
                    if ds is None or (name == L.SAMPLES and b[crc_field] == 0
                                      and f.attrs["format"] == L.RECO_FORMAT):
                        continue
                    try:
                        values = np.ascontiguousarray(ds[lo:lo + n])
                    except (OSError, ValueError):
                        problems.append(f"/{name} unreadable")
                        continue
                    if crc32c(values) != int(b[crc_field]):
                        problems.append(f"/{name} checksum differs")
            expected = lo + n
            report["blocks"] += 1
            if problems:
                report["ok"] = False
                report["bad_blocks"].append({"file": f.filename, "block": k,
                                             "rows": [lo, lo + n], "problems": problems})
            else:
                report["verified_events"] += n
        report["unverified_rows"] += max(0, n_rows - expected)
    return report
