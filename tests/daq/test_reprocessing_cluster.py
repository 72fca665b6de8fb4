"""``na64daq reco FILES...`` on a local Dask cluster: real worker processes on loopback."""

import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import reconstruction_digests, wait_until

from daq.app.cli import main
from daq.run_file.reprocessing import reprocess

pytestmark = pytest.mark.timeout(600)


def test_an_interrupted_run_over_many_files_resumes_and_equals_one_process(
        tmp_path, write_run, capsys):
    source = write_run(tmp_path / "made").path
    files = []
    for k in range(8):  # the same run in eight places: one reference for all
        (tmp_path / f"d{k}").mkdir()
        files.append(str(shutil.copy(source, tmp_path / f"d{k}" / source.name)))
    corrupt = tmp_path / "bad" / "run_000008.h5"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    files.insert(3, str(corrupt))
    reference = reconstruction_digests(reprocess(source, tmp_path / "made" / "ref.h5")["file"])
    outputs = [f.removesuffix(".h5") + ".reco.h5" for f in files if f != str(corrupt)]

    interrupted = subprocess.Popen([sys.executable, "-m", "daq.app.cli", "reco", *files,
                                    "--workers", "1"], stdout=subprocess.PIPE, text=True,
                                   stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: any(os.path.exists(o) for o in outputs), 300)
        interrupted.send_signal(signal.SIGINT)
        out, err = interrupted.communicate(timeout=120)
    finally:
        interrupted.kill()
    assert interrupted.returncode == 130, (out, err[-2000:])
    assert "interrupted: run the same command again to resume" in out
    first = [o for o in outputs if os.path.exists(o)]
    assert 0 < len(first) < len(outputs)  # interrupted midway

    assert main(["reco", *files, "--workers", "2"]) == 1  # the corrupt file fails, alone
    said = capsys.readouterr().out
    assert f"{len(outputs) - len(first)} reconstructed, {len(first)} already complete, " \
           f"1 failed, of {len(files)} files" in said, said
    assert f"failed: {corrupt}: " in said and said.count("failed: ") == 1
    for o in outputs:
        assert reconstruction_digests(o) == reference, o
    assert not list(tmp_path.glob("*/*.partial"))


def test_relearn_gives_the_same_with_one_or_two_workers_and_two_batch_sizes(tmp_path,
                                                                          write_run):
    from daq.app.reprocessing_cluster import Options, reprocess_files

    source = write_run(tmp_path / "made").path
    files = [str(shutil.copy(source, tmp_path / f"copy{k}.h5")) for k in range(3)]
    results = []
    for workers, batch in ((1, 100), (2, 333)):
        out_dir = tmp_path / f"out-{workers}"
        out_dir.mkdir()
        outcome = reprocess_files(files, Options(relearn=True, out_dir=str(out_dir),
                                                 batch_events=batch), workers=workers,
                                  progress=False)
        assert not outcome.failed and len(outcome.done) == 3
        results.append([reconstruction_digests(out_dir / f"copy{k}.reco.h5") for k in range(3)])
    assert results[0] == results[1]
    assert results[0][0] == results[0][1] == results[0][2]  # the same run: the same values
