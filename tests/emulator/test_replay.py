import h5py
import numpy as np
import pytest

from daq.core.wire_format import FrameKind, decode, to_bytes
from emulator.frames_file import RunFileError, read_run, write_run
from emulator.replay import Replay

SMALL = {"spill.duration_s": 0.3, "run.spills": 2, "run.batch_events": 50}


@pytest.fixture(scope="module")
def written(make_emulator, tmp_path_factory):
    em = make_emulator(**SMALL)
    path = tmp_path_factory.mktemp("run") / "run.h5"
    write_run(em, path)
    return em, path


def test_replay_reproduces_the_emulated_frames_byte_for_byte(written, detector):
    em, path = written
    original = [(sid, to_bytes(p)) for _, sid, p in em.frames()]
    replayed = [(sid, to_bytes(p)) for _, sid, p in Replay(read_run(path), detector).frames()]
    assert len(replayed) == len(original)
    assert replayed == original


def test_file_holds_every_event_and_its_truth(written, detector):
    em, path = written
    run = read_run(path)
    plans = [em.spill_plan(s) for s in (1, 2)]
    n = sum(len(p.triggers) for p in plans)
    assert len(run.events) == n == int(run.spills["n_events"].sum())
    assert list(run.spills["spill"]) == [1, 2]
    assert len(run.truth["class"]) == n
    assert run.truth["deposit_gev"].shape == (n, detector.n_channels)
    assert run.truth["pileup_event"].max() < n
    assert run.config["run"]["seed"] == em.cfg.run.seed
    with h5py.File(path) as f:
        assert np.allclose(f["calibration_truth/adc_per_gev"][()], em.adc_per_gev)
        assert f["truth/e_ecal_gev"].attrs["units"] == "GeV"


def test_replay_emit_times_follow_the_spills(written, detector):
    em, path = written
    times = [(t, decode(p).kind) for t, _, p in Replay(read_run(path), detector).frames([1])]
    assert [k for _, k in times][:2] == [FrameKind.SOR, FrameKind.SOS]
    assert all(a <= b for (a, _), (b, _) in zip(times, times[1:], strict=False))
    sos2 = [t for t, k in times if k == FrameKind.SOS][1]
    assert sos2 == pytest.approx(em.cfg.spill.duration_s + em.cfg.spill.pause_s)


def test_damaged_files_give_a_clear_error(written, tmp_path):
    _, path = written
    with pytest.raises(RunFileError, match="no such file"):
        read_run(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(RunFileError, match="not a readable HDF5 file"):
        read_run(junk)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RunFileError):
        read_run(cut)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something else"
    with pytest.raises(RunFileError, match="not an emulated run file"):
        read_run(other)
    lying = tmp_path / "lying.h5"
    lying.write_bytes(path.read_bytes())
    with h5py.File(lying, "a") as f:
        f["spills"][0, "n_events"] = 1  # compound field write
    with pytest.raises(RunFileError, match="spill table counts"):
        read_run(lying)


def test_replay_refuses_a_run_that_does_not_fit_the_map(written, tmp_path):
    from importlib import resources

    from daq.core.detector import Detector

    _, path = written
    text = resources.files("daq.core").joinpath("detector.toml").read_text()
    other = Detector.from_text(text.replace("samples_per_channel = 32", "samples_per_channel = 64"))
    with pytest.raises(RunFileError, match="the detector map"):
        Replay(read_run(path), other)
