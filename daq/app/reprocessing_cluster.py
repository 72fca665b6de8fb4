"""``na64daq reco FILES...``: many run files reconstructed again on a Dask cluster
(``docs/reprocessing.md``): a local one by default, or any scheduler (dask-jobqueue reaches
HTCondor). One task per file; paths travel, never open HDF5 objects. Each output is written
under a temporary name and renamed once verified, so a run interrupted at any moment resumes:
outputs already complete are kept. A file that fails (corrupt, unreadable) fails its own task
only, and is reported with its one-line reason."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Options:
    """What every task reconstructs with (plain values: they travel to the workers)."""

    config: Any = None  # RecoConfig, or None: each run's own
    constants: dict[str, Any] | None = None
    conditions_db: str | None = None
    relearn: bool = False
    verify_blocks: bool = True
    out_dir: str | None = None
    batch_events: int = 1024  # what is read at a time (with ``relearn``, not the result)


@dataclass
class Outcome:
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # file -> one-line reason
    interrupted: bool = False


def output_path(path: str, out_dir: str | None) -> Path:
    """``FILE.reco.h5`` beside the file, or in ``out_dir``."""
    p = Path(path)
    name = p.name.removesuffix(".h5") + ".reco.h5"
    return Path(out_dir) / name if out_dir else p.with_name(name)


def reco_task(path: str, options: Options) -> dict[str, Any]:
    """One file, in a worker: its reconstruction, or a ``RunFileError`` naming the problem."""
    from daq.core.run_database import RunDatabase
    from daq.run_file.reprocessing import reprocess

    db = RunDatabase(options.conditions_db) if options.conditions_db else None
    try:
        return reprocess(path, output_path(path, options.out_dir), options.config,
                         options.constants, batch_events=options.batch_events, conditions=db,
                         verify_blocks=options.verify_blocks,
                         relearn=options.relearn, skip_complete=True)
    finally:
        if db is not None:
            db.close()


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def reprocess_files(files: list[str], options: Options, scheduler: str | None = None,
                    workers: int = 2, progress: bool = True) -> Outcome:
    """Every file, one task each, on ``scheduler`` (an address) or a local cluster of
    ``workers`` processes on loopback. Ctrl-C stops the run (``interrupted``); what was
    complete stays, and the next run resumes from there."""
    import dask
    from distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    from daq.processes.process_table import MALLOC_ENV

    outcome = Outcome()
    cluster = None
    if scheduler is None:
        # the DAQ's allocator settings in every worker (Dask's own make glibc hand batches of
        # megabytes back to the kernel and fault them in again: 6 files took 19.6 s on one
        # worker instead of 14.5 s)
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **MALLOC_ENV}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None,
                                   silence_logs=logging.ERROR)
    client = Client(cluster if cluster is not None else scheduler)
    futures = {}
    try:
        futures = {client.submit(reco_task, f, options, key=f"reco-{k}-{Path(f).name}",
                                 pure=False): f for k, f in enumerate(files)}
        with tqdm(total=len(files), unit="file", disable=not progress) as bar:
            for future in as_completed(futures):
                name = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a bad file fails its own task only
                    outcome.failed[name] = one_line(exc)
                else:
                    (outcome.skipped if result["skipped"] else outcome.done).append(result)
                bar.update()
    except KeyboardInterrupt:
        outcome.interrupted = True
        client.cancel(list(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcome
