"""Deleting runs (`spectrascope rm`): everything goes, nothing goes while a job holds the run."""
from __future__ import annotations

import pytest

from helpers import spectrascope
from spectrascope.runs import (
    RunBusyError, RunFormatError, delete_run, job_lock, list_runs, new_run_record, run_paths, write_run,
)


def make_run(data_dir, run_id):
    paths = run_paths(data_dir, run_id)
    paths.checkpoints.mkdir(parents=True)
    paths.checkpoint(0).write_bytes(b"weights")
    write_run(paths, new_run_record(run_id, kind="trained", preset=None, config={}, total_epochs=1, provenance={}))
    return paths


def test_delete_run_removes_the_folder_and_leaves_other_runs(tmp_path):
    gone, kept = make_run(tmp_path, "gone"), make_run(tmp_path, "kept")
    delete_run(gone)
    assert not gone.root.exists() and kept.run_json.exists()
    assert [record.id for record in list_runs(tmp_path)] == ["kept"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs"]  # nothing left beside runs/


@pytest.mark.parametrize("job", ["training", "analysis", "job"])
def test_a_run_a_job_holds_is_not_deleted(tmp_path, job):
    paths = make_run(tmp_path, "busy")
    with job_lock(paths, job), pytest.raises(RunBusyError, match="stop that job .* before deleting"):
        delete_run(paths)
    assert paths.checkpoint(0).read_bytes() == b"weights"


def test_an_unknown_run_is_an_error(tmp_path):
    with pytest.raises(RunFormatError, match="no run 'ghost'"):
        delete_run(run_paths(tmp_path, "ghost"))
    assert not (tmp_path / "runs" / "ghost").exists()


def test_rm_deletes_each_run_named_and_refuses_a_busy_one(tmp_path):
    for run_id in ("a", "b", "c"):
        make_run(tmp_path, run_id)
    process = spectrascope("rm", "a", "b", "--data-dir", tmp_path)
    assert process.returncode == 0, process.stderr
    assert "deleted run a" in process.stdout and "deleted run b" in process.stdout
    assert [record.id for record in list_runs(tmp_path)] == ["c"]
    with job_lock(run_paths(tmp_path, "c"), "training"):
        process = spectrascope("rm", "c", "--data-dir", tmp_path)
    assert process.returncode == 2 and "is busy" in process.stderr
    assert run_paths(tmp_path, "c").run_json.exists()


def test_nothing_late_brings_a_deleted_runs_folder_back(tmp_path):
    from spectrascope.runs import is_locked, update_run

    paths = make_run(tmp_path, "gone")
    delete_run(paths)
    assert not is_locked(paths.job_lock("training"))  # a poll of the page after the delete
    with pytest.raises(RunFormatError, match="no run 'gone'"):
        update_run(paths, status="failed")  # a job's last word after the delete
    assert not paths.root.exists()


def test_a_busy_dashboard_job_is_named_in_words(tmp_path):
    paths = make_run(tmp_path, "busy")
    with job_lock(paths, "job"), pytest.raises(RunBusyError, match="another dashboard job \\(pid"):
        delete_run(paths)
