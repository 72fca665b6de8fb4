"""``na64daq recover``: a run file whose writer died (it still opens in SWMR mode), ran out of
space or was truncated, copied as far as its checksums prove it intact into a closed file that
any HDF5 reader opens. Of a short file only the verified blocks are copied: its spill table
and run end may lie past its end (the run record keeps the ledger)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daq.detector import Detector, DetectorMapError
from daq.run_file import layout as L
from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings
from daq.run_file.reader import RunReader
from daq.run_file.verification import verify


def recovered_name(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".h5") + ".recovered.h5")


def recover(path: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Copy every verified block (up to the first damaged one) of the run of ``path`` into
    ``out`` (default ``FILE.recovered.h5``); the original is left as it is."""
    path = Path(path)
    out = Path(out) if out else recovered_name(path)
    if out.exists():
        raise L.RunFileError(f"{out}: exists already; remove it or choose --out")
    with RunReader(path, allow_short=True) as run:
        if run.format != L.FORMAT or not run.has_raw:
            raise L.RunFileError(f"{path}: not a raw run file (format {run.format})")
        short = sum(L.shortfall(Path(f.filename)) for f in run.files)
        report = verify(run)
        if short and not report["verified_events"]:
            raise L.RunFileError(f"{path}: truncated ({short} bytes missing) and no block "
                                 "verifies (the chunk indexes lie past the cut): nothing to "
                                 "recover")
        try:
            detector = Detector.from_text(run.provenance("detector_map"), f"{path} map")
        except DetectorMapError as exc:
            raise L.RunFileError(f"{path}: damaged provenance ({exc})") from None
        prov = run.files[0][L.PROVENANCE]
        texts = {name: run.provenance(name) for name in prov
                 if name not in ("detector_map", "channels")}
        attrs = {k: v for k, v in run.attrs.items() if k in ("truth_file",)}
        attrs.update(recovered_from=path.name, recovery=json.dumps(report))
        first = run.files[0]
        settings = WriterSettings(int(first[L.SAMPLES].chunks[0]), 1 << 30,
                                  run.attrs["raw_compression"] or "none")
        writer = RunFileWriter(out.parent, FileHeader(run.run, detector, texts, attrs,
                                                      run_uuid=run.run_uuid, name=out.name),
                               settings)
        copied, end = 0, None
        try:
            bad = {(b["file"], b["block"]) for b in report["bad_blocks"]}
            for f in run.files:
                for k, b in enumerate(f[L.BLOCKS][()]):
                    if (f.filename, k) in bad:
                        break
                    lo, hi = int(b["first_row"]), int(b["first_row"] + b["n_rows"])
                    writer.append(*(f[name][lo:hi] for name in L.ROW_DATASETS))
                    writer.write_block()
                    copied += hi - lo
                else:
                    continue
                break  # a damaged block: what follows it is not trusted
            if not short:  # past a file's end HDF5 reads zeros, even for its indexes
                for row, ledger in zip(run.spills(), run.spill_ledgers(), strict=False):
                    writer.write_spill(row[None], ledger)
                end = run.run_end()
        finally:
            writer.close(end if copied == report["verified_events"] else None)
    return {"file": str(out), "run": run.run, "events": copied,
            "blocks_verified": report["blocks"] - len(report["bad_blocks"]),
            "bad_blocks": report["bad_blocks"], "unverified_rows": report["unverified_rows"],
            "closed": end is not None, "bytes_missing": short}
