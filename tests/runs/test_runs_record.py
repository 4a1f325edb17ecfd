"""The typed run record: runs written by the previous release open and round-trip unchanged, and
update_run loses no update when processes write different fields at once."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spectrascope.runs import (
    AnalysisState, Progress, RunFormatError, RunRecord, new_run_record, read_run, run_paths, update_run, write_run,
)

PREVIOUS_RELEASE = Path(__file__).with_name("data") / "run-0.1.0.json"  # written by spectrascope 0.1.0


@pytest.fixture
def old_run(tmp_path):
    paths = run_paths(tmp_path, "oldrun")
    paths.root.mkdir(parents=True)
    shutil.copy(PREVIOUS_RELEASE, paths.run_json)
    return paths


def test_a_run_of_the_previous_release_reads_as_a_typed_record(old_run):
    record = read_run(old_run)
    assert isinstance(record.progress, Progress) and isinstance(record.analysis, AnalysisState)
    assert (record.id, record.kind, record.status, record.preset) == ("oldrun", "trained", "completed", "demo")
    assert (record.progress.epoch, record.progress.total_epochs, record.progress.phase) == (2, 2, "done")
    assert (record.analysis.status, record.analysis.epochs_done, record.analysis.errors) == ("completed", 3, {})
    assert record.config["width"] == 16 and record.provenance["torch"].startswith("2.")


def test_the_record_writes_back_what_it_read(old_run):
    """Every value kept; the only additions are the analysis fields 0.1.0 left out, empty."""
    original = json.loads(old_run.run_json.read_text())
    written = read_run(old_run).to_dict()
    assert {**written, "analysis": original["analysis"]} == original
    assert written["analysis"] == {**original["analysis"], "phase": None, "error": None, "layers_done": None,
                                   "layers_total": None, "layer": None, "seconds_left": None}


def test_keys_another_tool_wrote_survive_updates(old_run):
    data = json.loads(old_run.run_json.read_text())
    data["notes"] = "baseline for the ablation"
    data["progress"]["eta_seconds"] = 12
    data["analysis"]["host"] = "gpu-3"
    old_run.run_json.write_text(json.dumps(data))
    update_run(old_run, status="running", progress={"epoch": 3}, analysis={"status": "running"})
    written = json.loads(old_run.run_json.read_text())
    assert written["notes"] == "baseline for the ablation"
    assert written["progress"] == {**data["progress"], "epoch": 3}
    assert written["analysis"]["host"] == "gpu-3" and written["analysis"]["status"] == "running"


def test_update_run_merges_sub_records_field_by_field(tmp_path):
    paths = run_paths(tmp_path, "r")
    paths.root.mkdir(parents=True)
    write_run(paths, new_run_record("r", kind="trained", preset=None, config={}, total_epochs=5, provenance={}))
    update_run(paths, analysis={"status": "running", "epochs_done": 1, "epochs_total": 4})
    record = update_run(paths, analysis={"epochs_done": 2}, progress={"epoch": 1})
    assert (record.analysis.status, record.analysis.epochs_done, record.analysis.epochs_total) == ("running", 2, 4)
    assert (record.progress.epoch, record.progress.total_epochs) == (1, 5)
    assert read_run(paths) == record


@pytest.mark.parametrize("change", [{"status": "finished"}, {"colour": "red"}, {"progress": {"eta": 3}},
                                    {"analysis": {"statuss": "completed"}}])
def test_update_run_refuses_unknown_fields_and_statuses(tmp_path, change):
    paths = run_paths(tmp_path, "r")
    paths.root.mkdir(parents=True)
    write_run(paths, new_run_record("r", kind="trained", preset=None, config={}, total_epochs=5, provenance={}))
    before = paths.run_json.read_text()
    with pytest.raises(RunFormatError):
        update_run(paths, **change)
    assert paths.run_json.read_text() == before


UPDATER = """
import sys
from spectrascope.runs import read_run, run_paths, update_run

data_dir, field, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = run_paths(data_dir, "shared")
lost = []
for i in range(1, count + 1):
    record = read_run(paths)
    mine = record.progress.epoch if field == "progress" else record.analysis_state.epochs_done
    if (mine or 0) != i - 1:  # nobody else writes this field: a different value is a lost update
        lost.append(i - 1)
    update_run(paths, **{field: {"epoch" if field == "progress" else "epochs_done": i}})
print(len(lost))
"""


def test_two_processes_updating_different_fields_lose_no_update(tmp_path):
    paths = run_paths(tmp_path, "shared")
    paths.root.mkdir(parents=True)
    write_run(paths, new_run_record("shared", kind="trained", preset=None, config={}, total_epochs=None,
                                    provenance={}))
    count = 200
    writers = [subprocess.Popen([sys.executable, "-c", UPDATER, str(tmp_path), field, str(count)],
                                stdout=subprocess.PIPE, text=True) for field in ("progress", "analysis")]
    lost = [int(writer.communicate(timeout=300)[0]) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0]
    assert lost == [0, 0]
    record = read_run(paths)
    assert (record.progress.epoch, record.analysis.epochs_done) == (count, count)


def test_a_record_needs_no_analysis_until_one_runs():
    record = RunRecord.from_dict({"id": "x", "format_version": 1})
    assert record.analysis is None and record.analysis_state == AnalysisState()
    assert "analysis" not in record.to_dict()
