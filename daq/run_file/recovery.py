"""``na64daq recover``: a run file whose writer died (it still opens in SWMR mode), ran out of
space or was truncated, copied as far as its checksums prove it intact into a closed file that
any HDF5 reader opens. Of a short file only the verified blocks are copied: its spill table
and run end may lie past its end (the run record keeps the ledger)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daq.core.detector import Detector, DetectorMapError
from daq.run_file import layout as L
from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings
from daq.run_file.reader import RunReader
from daq.run_file.verification import report_of, scan

#: a block whose reading does not return within this is past the cut (HDF5 can loop for ever
#: on a chunk index that a truncation cut off: recover hung for over 900 s)
STALL_S = 5.0


def recovered_name(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".h5") + ".recovered.h5")


def _scan_child(path: Path, start: tuple[int, int], conn) -> None:
    with RunReader(path, allow_short=True) as run:
        conn.send({"files": len(run.files)})
        if start[0] < len(run.files):
            conn.send(_block_rows(run, start[0]))
        for record in scan(run, start):
            conn.send(record)
            if "unverified_rows" in record and record["file_index"] + 1 < len(run.files):
                conn.send(_block_rows(run, record["file_index"] + 1))
    conn.send(None)


def _block_rows(run: RunReader, i: int) -> dict[str, Any]:
    blocks = run.files[i][L.BLOCKS][()]
    return {"file_index": i, "block_rows": [[int(b["first_row"]), int(b["first_row"] +
                                                                       b["n_rows"])]
                                            for b in blocks]}


def scan_guarded(path: Path, stall_s: float = STALL_S) -> dict[str, Any]:
    """:func:`verify`'s report, the scan run in a child process that is killed when a read
    does not return within ``stall_s``: that block is reported unreadable and the scan goes
    on after it, so that every block that verifies is found, whatever the damage."""
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    records: list[dict[str, Any]] = []
    start, n_files, block_rows = (0, 0), None, {}
    while True:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_scan_child, args=(path, start, child), daemon=True)
        proc.start()
        child.close()
        done = False
        try:
            while True:
                if not parent.poll(stall_s):
                    break
                try:
                    msg = parent.recv()
                except EOFError:  # the child died (an error in HDF5 itself)
                    break
                if msg is None:
                    done = True
                    break
                if "files" in msg:
                    n_files = msg["files"]
                elif "block_rows" in msg:
                    block_rows[msg["file_index"]] = msg["block_rows"]
                else:
                    records.append(msg)
                    if "block" in msg:
                        start = (msg["file_index"], msg["block"] + 1)
        finally:
            proc.kill()
            proc.join()
            parent.close()
        if done:
            return report_of(records)
        if n_files is None:
            raise L.RunFileError(f"{path}: cannot be opened (HDF5 did not return within "
                                 f"{stall_s:g} s)")
        i, k = start
        if i not in block_rows:  # its block table is past the cut: nothing further verifies
            report = report_of(records)
            if not report["verified_events"]:
                raise L.RunFileError(f"{path}: the block table of file {i} cannot be read "
                                     "(past the cut): no block can be verified, nothing to "
                                     "recover")
            return report
        # a block that HDF5 does not return is past the cut, and so is every later block of
        # that file (they were appended after it): each would hang as long, so none is read
        # (none at all when it hung after the last block)
        for later in range(k, len(block_rows[i])):
            records.append({"file": str(path), "file_index": i, "block": later,
                            "rows": block_rows[i][later], "problems": [
                                "unreadable (past the cut: HDF5 did not return within "
                                f"{stall_s:g} s)" if later == k else "past the cut"]})
        records.append({"file": str(path), "file_index": i, "unverified_rows": 0})
        start = (i + 1, 0)
        if i + 1 >= n_files:
            return report_of(records)


def _batches(states, lo: int, hi: int) -> list[tuple[int, int, Any]]:
    """The rows lo..hi-1 of a block as the batches ``/reco/state`` records, each with its
    state row; one batch without a recorded state where the file has none for them."""
    if states is not None:
        rows = states[(states["first_row"] >= lo) & (states["first_row"] < hi)]
        if len(rows) and rows["first_row"][0] == lo and \
                int(rows["first_row"][-1] + rows["n_rows"][-1]) == hi:
            return [(int(r["first_row"]), int(r["first_row"] + r["n_rows"]), r[None])
                    for r in rows]
    return [(lo, hi, None)]


def recover(path: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Copy every verified block of the run of ``path`` into ``out`` (default
    ``FILE.recovered.h5``), passing over damaged ones; the original is left as it is."""
    path = Path(path)
    out = Path(out) if out else recovered_name(path)
    if out.exists():
        raise L.RunFileError(f"{out}: exists already; remove it or choose --out")
    with RunReader(path, allow_short=True) as run:
        if run.format != L.FORMAT or not run.has_raw:
            raise L.RunFileError(f"{path}: not a raw run file (format {run.format})")
        short = sum(L.shortfall(Path(f.filename)) for f in run.files)
        report = scan_guarded(path)
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
        attrs.update(recovered_from=path.name, recovery=json.dumps(
            {k: v for k, v in report.items() if k != "good_blocks"}))
        first = run.files[0]
        settings = WriterSettings(int(first[L.SAMPLES].chunks[0]), 1 << 30,
                                  run.attrs["raw_compression"] or "none")
        writer = RunFileWriter(out.parent, FileHeader(run.run, detector, texts, attrs,
                                                      run_uuid=run.run_uuid, name=out.name),
                               settings)
        copied, end = 0, None
        try:
            good = {tuple(g) for g in report["good_blocks"]}
            for i, f in enumerate(run.files):
                # a file with no good block is not read at all: its block table may be past
                # the cut, where reading it would hang
                blocks = f[L.BLOCKS][()] if any(g[0] == i for g in good) else []
                states = f[L.RECO_STATE][()] if len(blocks) and L.RECO_STATE in f else None
                for k, b in enumerate(blocks):
                    if (i, k) not in good:  # damaged: left out, the rest is still intact
                        continue
                    lo, hi = int(b["first_row"]), int(b["first_row"] + b["n_rows"])
                    for a, z, state in _batches(states, lo, hi):  # each with its state
                        writer.append(*(f[name][a:z] for name in L.ROW_DATASETS), state)
                    writer.write_block()
                    copied += hi - lo
            if not short:  # past a file's end HDF5 reads zeros, even for its indexes
                for row, ledger in zip(run.spills(), run.spill_ledgers(), strict=False):
                    writer.write_spill(row[None], ledger)
                end = run.run_end()
        finally:
            writer.close(end if report["ok"] else None)
    return {"file": str(out), "run": run.run, "events": copied,
            "blocks_verified": len(report["good_blocks"]),
            "bad_blocks": report["bad_blocks"], "unverified_rows": report["unverified_rows"],
            "closed": end is not None, "bytes_missing": short}
