"""The run format package (spectrascope.runs): ids, atomic writes, run.json updates, locks, tables."""
import fcntl
import json
import multiprocessing
import os
import re
import threading
import time

import numpy as np
import pytest

from spectrascope.runs import (
    FORMAT_VERSION, RunBusyError, RunFormatError, RunPaths, atomic_write, checkpoint_epochs, ensure_writable_dir,
    job_is_active, job_lock, list_runs, new_run_record, read_eigenvalues, read_histograms, read_metrics,
    read_randomized_eigenvalues, read_run, run_id_from, run_paths, update_run, validate_run_id, write_esd, write_histograms,
    write_metrics, write_run,
)
from spectrascope.runs import locks


@pytest.mark.parametrize("run_id", ["a/b", "..", "a..b", "/abs", "", ".hidden", "x" * 129, "sp ace"])
def test_run_ids_that_could_escape_or_confuse_are_refused(run_id):
    with pytest.raises(RunFormatError, match="invalid run id"):
        validate_run_id(run_id)


@pytest.mark.parametrize("run_id", ["d1", "cifar100-resnet18-20261127-101500", "a.b_c-9"])
def test_ordinary_run_ids_are_accepted(run_id):
    assert validate_run_id(run_id) == run_id


@pytest.mark.parametrize("name, run_id", [("my_checkpoints", "my_checkpoints"), ("my ckpts (v2)", "my-ckpts-v2-"),
                                          ("..a..b", "a.b"), (".hidden", "hidden"), ("x" * 200, "x" * 128),
                                          ("", "imported"), ("été", "t-")])
def test_any_folder_name_becomes_a_valid_run_id(name, run_id):
    assert run_id_from(name) == validate_run_id(run_id)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")

    def half_then_crash(handle):
        handle.write(b"new but incompl")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, half_then_crash)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def _new_run(tmp_path, run_id="r1"):
    paths = run_paths(tmp_path, run_id)
    paths.root.mkdir(parents=True)
    write_run(paths, new_run_record(run_id, kind="trained", preset="demo", config={"lr": 0.1}, total_epochs=3,
                                    provenance={"torch": "x"}))
    return paths


def test_update_run_merges_progress_and_keeps_other_fields(tmp_path):
    paths = _new_run(tmp_path)
    update_run(paths, status="running", progress={"epoch": 1})
    record = update_run(paths, progress={"phase": "training"})
    assert record.status == "running"
    assert record.progress.to_dict() == {"epoch": 1, "total_epochs": 3, "phase": "training"}
    assert record.format_version == FORMAT_VERSION
    assert json.loads(paths.run_json.read_text()) == record.to_dict()


def test_update_run_rejects_an_unknown_status(tmp_path):
    paths = _new_run(tmp_path)
    with pytest.raises(RunFormatError, match="unknown status"):
        update_run(paths, status="exploded")
    assert read_run(paths).status == "queued"


def test_reading_an_unknown_run_names_it(tmp_path):
    with pytest.raises(RunFormatError, match="no run 'ghost'"):
        read_run(run_paths(tmp_path, "ghost"))


def test_list_runs_is_newest_first_and_skips_broken_folders(tmp_path):
    first = _new_run(tmp_path, "first")
    update_run(first, created="2026-01-01T00:00:00+00:00")
    _new_run(tmp_path, "second")
    for broken, contents in (("broken", b"{not json"), ("binary", b"\xff\xfe\x00garbage"), ("a-list", b"[1]"),
                             ("newer", json.dumps({**read_run(first).to_dict(), "format_version": 99}).encode())):
        (tmp_path / "runs" / broken).mkdir()
        (tmp_path / "runs" / broken / "run.json").write_bytes(contents)
    (tmp_path / "runs" / "a-file").write_text("not a run folder")
    assert [r.id for r in list_runs(tmp_path)] == ["second", "first"]


@pytest.mark.parametrize("contents, message", [
    (b"\xff\xfe\x00garbage", "is not valid JSON"),
    (b"[1, 2]", "is not a JSON object"),
    (json.dumps({"format_version": 2}).encode(), "has format_version 2, and this spectrascope reads format_version 1; "
                                                  "upgrade spectrascope"),
    (json.dumps({"id": "r1"}).encode(), "has format_version None"),
])
def test_a_run_json_that_cannot_be_used_is_one_clear_error(tmp_path, contents, message):
    paths = _new_run(tmp_path)
    paths.run_json.write_bytes(contents)
    with pytest.raises(RunFormatError, match=re.escape(message)):
        read_run(paths)


def test_a_data_dir_that_is_a_file_is_named_as_such(tmp_path):
    (tmp_path / "data").write_text("")
    with pytest.raises(RunFormatError, match="no run 'r1'"):
        read_run(run_paths(tmp_path / "data", "r1"))
    with pytest.raises(RunFormatError, match="is a file, not a folder; choose another --data-dir"):
        ensure_writable_dir(tmp_path / "data")


def test_metrics_round_trip_keeps_full_precision_and_empty_cells(tmp_path):
    paths = _new_run(tmp_path)
    rows = [{"epoch": 1, "train_loss": 1 / 3, "test_acc": 0.5}, {"epoch": 0, "test_acc": 0.1, "lr": None}]
    write_metrics(paths, rows)
    back = read_metrics(paths)
    assert [r["epoch"] for r in back] == [0, 1]
    assert back[1]["train_loss"] == 1 / 3
    assert back[0]["train_loss"] is None and back[0]["lr"] is None


def test_histograms_round_trip(tmp_path):
    paths = _new_run(tmp_path)
    edges = {("layer1.0.conv1", "weight"): np.linspace(-1, 1, 5)}
    density = {("layer1.0.conv1", "weight"): np.arange(8.0).reshape(2, 4)}
    write_histograms(paths, [0, 3], edges, density)
    epochs, edges_back, density_back = read_histograms(paths)
    assert epochs == [0, 3]
    np.testing.assert_array_equal(edges_back[("layer1.0.conv1", "weight")], edges[("layer1.0.conv1", "weight")])
    np.testing.assert_array_equal(density_back[("layer1.0.conv1", "weight")], density[("layer1.0.conv1", "weight")])


ODD_LAYER_NAMES = ("0", "2", "layers.0.attn.out_proj", "x" * 200, "file", "allow_pickle")  # any module path


def test_eigenvalues_and_shuffled_eigenvalues_round_trip_under_their_exact_layer_names(tmp_path):
    paths = _new_run(tmp_path)
    esd = {name: np.sort(np.random.default_rng(i).random(5 + i)) for i, name in enumerate(ODD_LAYER_NAMES)}
    randomized = {name: 2 * values for name, values in esd.items()}
    write_esd(paths, 3, esd, randomized)
    for name in ODD_LAYER_NAMES:
        np.testing.assert_array_equal(read_eigenvalues(paths, 3, name), esd[name])
        np.testing.assert_array_equal(read_randomized_eigenvalues(paths, 3, name), randomized[name])
    assert read_eigenvalues(paths, 3, "fc") is None and read_randomized_eigenvalues(paths, 3, "fc") is None


def test_an_epoch_analysed_without_randomize_has_no_shuffled_eigenvalues(tmp_path):
    paths = _new_run(tmp_path)
    write_esd(paths, 0, {"fc": np.ones(3)})  # also what a run analysed before they were kept reads as
    assert read_randomized_eigenvalues(paths, 0, "fc") is None
    write_esd(paths, 1, {"fc": np.ones(3)}, {"fc": np.ones(3)})
    write_esd(paths, 1, {"fc": np.arange(3.0)}, {})  # analysed again, changed weights, without --randomize
    assert read_randomized_eigenvalues(paths, 1, "fc") is None and not paths.randomized_esd(1).exists()


def _hold_lock(root, ready, release):
    with job_lock(RunPaths(root)):
        ready.set()
        release.wait(10)


def test_a_job_starting_while_the_dashboard_looks_at_its_lock_is_not_refused(tmp_path, monkeypatch):
    """job_is_active() looks by taking a shared lock for an instant; a job starting in that instant waits."""
    monkeypatch.setattr(locks, "PROBE_GRACE_SECONDS", 10.0)  # the look below lasts 50 ms, however busy the CPU
    paths = _new_run(tmp_path)
    look = os.open(paths.job_lock("analysis"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(look, fcntl.LOCK_SH)  # a look caught mid-way
    threading.Timer(0.05, os.close, [look]).start()
    with job_lock(paths, "analysis"):
        assert job_is_active(paths, "analysis")
    assert not job_is_active(paths, "analysis")


def test_a_second_job_is_refused_while_the_first_holds_the_lock_and_accepted_after(tmp_path):
    paths = _new_run(tmp_path)
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(paths.root, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        assert job_is_active(paths)
        with pytest.raises(RunBusyError, match=f"pid {holder.pid}"):
            with job_lock(paths):
                pass
        with job_lock(paths, "analysis"):  # analysis has its own lock: it may run beside training
            pass
    finally:
        release.set()
        holder.join(10)
    assert not job_is_active(paths)
    with job_lock(paths):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    paths = _new_run(tmp_path)
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(paths.root, ready, release))
    holder.start()
    assert ready.wait(10)
    holder.kill()
    holder.join(10)
    deadline = time.time() + 5
    while job_is_active(paths) and time.time() < deadline:
        time.sleep(0.05)
    assert not job_is_active(paths)


def test_checkpoint_epochs_are_the_files_the_run_names_itself(tmp_path):
    paths = run_paths(tmp_path, "r")
    paths.checkpoints.mkdir(parents=True)
    for epoch in (7, 12345):
        paths.checkpoint(epoch).write_bytes(b"")
    for stray in ("epoch_00007.pt", "epoch_7.pt", ".epoch_0001.pt.tmp", "epoch_0002.pth", "epoch_0003.pt.bak"):
        (paths.checkpoints / stray).write_bytes(b"")
    assert checkpoint_epochs(paths) == [7, 12345]
