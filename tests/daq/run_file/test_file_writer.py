"""The run-file writer and reader: every dataset round trip, provenance, checksums, rotation,
and a reader that opens the file while it is written."""

import json
import subprocess
import sys
import textwrap

import h5py
import hdf5plugin  # noqa: F401 - reading the raw samples without our code needs only this
import numpy as np
import pytest

from daq.run_file import layout as L
from daq.run_file.reader import RunReader
from daq.run_file.verification import verify


def _same(a, b):
    """Bit for bit (NaN included), structured or not."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _concat(run_batches, k, spills=3):
    return np.concatenate([b[k] for batches in run_batches[:spills] for b in batches])


@pytest.mark.parametrize("compression", ["blosc-lz4", "blosc-lz4-bitshuffle", "gzip", "none"])
def test_every_dataset_round_trips(tmp_path, write_run, run_batches, detector, compression):
    out = write_run(tmp_path, compression=compression, chunk_events=64, block_events=200)
    with RunReader(out.path) as run:
        for k, name in enumerate((L.EVENTS, L.SAMPLES, L.RECO, L.CHANNELS)):
            assert _same(run.column(name), _concat(run_batches, k))
        spills = run.spills()
        assert list(spills["spill"]) == [1, 2, 3]
        per_spill = [sum(len(b[0]) for b in batches) for batches in run_batches]
        assert list(spills["written_complete"]) == per_spill and spills["balanced"].all()
        assert [s["written_complete"] for s in run.spill_ledgers()] == per_spill
        assert run.run_end()["events"] == sum(per_spill)
        assert run.attrs["raw_compression"] == compression
        assert run.provenance_json("calibration")["tag"] == "t"
        assert run.provenance("detector_map") == detector.text
        names = [n.decode() for n in run.files[0]["provenance/channels"]["name"]]
        assert names == [c.name for c in detector.channels]
    # and a plain h5py reader finds units and descriptions on every dataset
    with h5py.File(out.path, "r") as f:
        for name in (L.EVENTS, L.SAMPLES, L.RECO, L.CHANNELS, L.BLOCKS, L.SPILLS):
            assert f[name].attrs["units"] and f[name].attrs["description"]
        assert f[L.SAMPLES].chunks == (64, detector.n_channels, detector.samples_per_channel)
        assert json.loads(f[L.RECO].attrs["units"])["e_ecal_gev"] == "GeV"


def test_blocks_are_whole_and_checksums_prove_the_content(tmp_path, write_run, run_batches):
    out = write_run(tmp_path, block_events=300)
    n = out.written_events
    with RunReader(out.path) as run:
        blocks = run.column(L.BLOCKS)
        report = verify(run)
    assert report["ok"] and report["verified_events"] == n and report["unverified_rows"] == 0
    assert blocks["first_row"][0] == 0 and blocks["n_rows"].sum() == n
    ends = blocks["first_row"] + blocks["n_rows"]
    spill_ends = np.cumsum([sum(len(b[0]) for b in batches) for batches in run_batches])
    assert set(spill_ends) <= set(ends)  # every spill is flushed at its end
    assert (blocks["n_rows"][~np.isin(ends, spill_ends)] >= 300).all()  # otherwise whole blocks
    # alter one sample of one event: the block that holds it, and only it, fails
    with h5py.File(out.path, "r+") as f:
        f[L.SAMPLES][n // 2, 40, 10] ^= 1
    with RunReader(out.path) as run:
        report = verify(run)
    assert not report["ok"] and len(report["bad_blocks"]) == 1
    bad = report["bad_blocks"][0]
    assert bad["rows"][0] <= n // 2 < bad["rows"][1]
    assert bad["problems"] == ["/raw/samples checksum differs"]


def test_rotation_makes_a_sequence_read_as_one_run(tmp_path, write_run, run_batches):
    out = write_run(tmp_path, block_events=128, max_file_mb=1.0)
    assert len(out.paths) >= 3
    assert [p.name for p in out.paths[:2]] == ["run_000007.h5", "run_000007_001.h5"]
    events = _concat(run_batches, 0)
    with RunReader(out.paths[1]) as run:  # any file of the sequence opens the whole run
        assert len(run.files) == len(out.paths)
        assert np.array_equal(run.column(L.EVENTS), events)
        assert np.array_equal(run.column(L.SAMPLES)[-5:], _concat(run_batches, 1)[-5:])
        assert verify(run)["ok"] and run.run_end() is not None
        chunks = list(run.chunks([L.EVENTS], chunk_events=100))
        assert np.array_equal(np.concatenate([c[L.EVENTS] for c in chunks]), events)
    out.paths[1].unlink()  # a missing middle file is named, not skipped
    with pytest.raises(L.RunFileError, match="file 2 of its run where file 1"):
        RunReader(out.paths[0])


def test_reco_dataframe_has_one_row_per_event(tmp_path, write_run, run_batches):
    out = write_run(tmp_path)
    with RunReader(out.path) as run:
        df = run.reco_dataframe()
    reco = _concat(run_batches, 2)
    assert len(df) == len(reco)
    assert np.array_equal(df["e_hcal_gev_2"].to_numpy(), reco["e_hcal_gev"][:, 2])
    assert np.array_equal(df["event"].to_numpy(), _concat(run_batches, 0)["event"])


READER = textwrap.dedent("""
    import sys, time
    from daq.run_file.reader import RunReader
    seen = []
    with RunReader(sys.argv[1]) as run:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh()
            seen.append(run.n_events)
            print(run.n_events, flush=True)
            if run.run_end() is not None:
                break
            sys.stdin.readline()
""")


def test_a_reader_sees_the_file_grow_while_it_is_written(tmp_path, detector, run_batches):
    """Another process opens the file during the run (SWMR) and sees each flushed block."""
    from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings

    out = RunFileWriter(tmp_path, FileHeader(7, detector, {}), WriterSettings(block_events=10**6))
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        seen = [int(reader.stdout.readline())]
        written = []
        for batches in run_batches:
            for batch in batches:
                out.append(*batch)
            out.write_block()
            written.append(out.written_events)
            reader.stdin.write("\n")
            reader.stdin.flush()
            seen.append(int(reader.stdout.readline()))
        out.close({"ledger": {}})
        reader.stdin.write("\n")
        reader.stdin.flush()
        seen.append(int(reader.stdout.readline()))
        assert reader.wait(30) == 0
    finally:
        reader.kill()
    assert seen == [0, *written, written[-1]]


def test_a_run_file_is_never_overwritten(tmp_path, write_run):
    out = write_run(tmp_path, spills=1)
    before = out.path.read_bytes()
    with pytest.raises(OSError, match="cannot create .*exists"):
        write_run(tmp_path, spills=1)  # the same run number into the same directory
    assert out.path.read_bytes() == before


def test_events_are_counted_under_their_own_spill_whatever_their_order(tmp_path, detector,
                                                                        run_batches):
    """A crate that lost its EOS of spill 1 lets spill 2's events come before spill 1 ends:
    each spill's counts are its own events', not what came before its end."""
    from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings

    out = RunFileWriter(tmp_path, FileHeader(7, detector, {}), WriterSettings(block_events=50))
    for batch in run_batches[0] + run_batches[1]:
        out.append(*batch)
    out.write_block()
    n = [sum(len(b[0]) for b in run_batches[k]) for k in (0, 1)]
    complete = [sum(int(b[0]["complete"].sum()) for b in run_batches[k]) for k in (0, 1)]
    for spill in (1, 2):
        assert out.take_spill_counts(spill) == {
            "complete": complete[spill - 1], "incomplete": n[spill - 1] - complete[spill - 1],
            "not_written": 0}
    assert out.take_spill_counts(1) == {"complete": 0, "incomplete": 0, "not_written": 0}
    out.close(None)
