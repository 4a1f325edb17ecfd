"""A run's analysis (analysis.runner.analyze_run and `spectrascope analyze`): files, incremental updates,
histograms on fixed edges, the weightwatcher backend through the command line, work shared with worker
processes, and analyses stopped midway that resume."""
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from analysis.backends import AnalysisError
from analysis.pool import run_tasks, worker_pool
from analysis.runner import analyze_run
from analysis_helpers import (
    COMPARED, EPOCHS, RUN_ID, SINGLE_THREAD_ENV, TinyNet, assert_backends_agree, load, pid_after, single_threaded,
    spectrascope,
)
from helpers import SPECTRASCOPE, wait_for
from spectrascope.runs import LAYER_COLUMNS, STAT_COLUMNS, read_histograms, read_run, run_paths
from spectrascope.runs.files import read_csv


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_threaded():
        yield




@pytest.fixture
def paths(data_dir):
    return run_paths(data_dir, RUN_ID)


def analyse(data_dir, **kwargs):
    return analyze_run(data_dir, RUN_ID, progress=False, **kwargs)


def layer_rows(paths):
    return read_csv(paths.layers_csv)


def histogram_values(paths, epoch, layer, kind):
    """The tensor as the histogram counts it (float32, flat)."""
    return load(paths.checkpoint(epoch))[f"{layer}.{kind}"].float().numpy().ravel()


def mtimes(files):
    return {str(f): f.stat().st_mtime_ns for f in files}


def rewrite_checkpoint(paths, epoch, change):
    state_dict = load(paths.checkpoint(epoch))
    change(state_dict)
    torch.save(state_dict, paths.checkpoint(epoch))


# --- the files -----------------------------------------------------------------------------------


def test_layers_csv_has_one_row_per_epoch_and_analysable_layer(data_dir, paths):
    report = analyse(data_dir)
    assert report.analysed == list(EPOCHS) and report.up_to_date == [] and report.errors == {}
    header = paths.layers_csv.read_text().splitlines()[0].split(",")
    assert tuple(header) == LAYER_COLUMNS
    rows = layer_rows(paths)
    assert [(int(r["epoch"]), r["layer"]) for r in rows] == list(itertools.product(EPOCHS, TinyNet.ANALYSABLE))
    assert {r["layer"]: r["layer_type"] for r in rows} == {"conv": "conv2d", "fc1": "dense", "fc2": "dense"}
    assert {r["layer"]: int(r["num_evals"]) for r in rows} == {"conv": 27, "fc1": 32, "fc2": 10}
    # the recorded weights change every epoch, and so do the spectra
    assert len({r["lambda_max"] for r in rows if r["layer"] == "fc1"}) == len(EPOCHS)


def test_layers_csv_keeps_full_precision(data_dir, paths):
    from analysis.backends import analyze_state_dict

    analyse(data_dir)
    expected, _, _ = analyze_state_dict(load(paths.checkpoint(2)), "fast")
    written = [r for r in layer_rows(paths) if r["epoch"] == "2"]
    for got, want in zip(written, expected, strict=True):
        for key in COMPARED:
            assert float(got[key]) == float(want[key]), key


def test_esd_files_hold_the_sorted_eigenvalues_of_each_row(data_dir, paths):
    analyse(data_dir)
    rows = layer_rows(paths)
    for epoch in EPOCHS:
        with np.load(paths.esd(epoch)) as esd:
            assert sorted(esd.files) == sorted(TinyNet.ANALYSABLE)
            for row in (r for r in rows if int(r["epoch"]) == epoch):
                evals = esd[row["layer"]]
                assert len(evals) == int(row["num_evals"])
                assert np.all(np.diff(evals) >= 0)
                assert evals.max() == pytest.approx(float(row["lambda_max"]), rel=1e-12)
                assert np.log10(evals.sum()) == pytest.approx(float(row["log_norm"]), rel=1e-12)
                assert np.count_nonzero(evals >= float(row["xmin"])) == int(row["num_pl_spikes"])


def test_weight_stats_match_numpy_on_the_checkpoints(data_dir, paths):
    analyse(data_dir)
    rows = read_csv(paths.weight_stats_csv)
    assert tuple(paths.weight_stats_csv.read_text().splitlines()[0].split(",")) == STAT_COLUMNS
    for epoch in EPOCHS:
        state_dict = load(paths.checkpoint(epoch))
        expected_keys = {k for k, v in state_dict.items() if k.rsplit(".", 1)[1] in ("weight", "bias")
                         and v.is_floating_point()}
        epoch_rows = [r for r in rows if int(r["epoch"]) == epoch]
        assert {f"{r['layer']}.{r['kind']}" for r in epoch_rows} == expected_keys
        for row in epoch_rows:
            values = state_dict[f"{row['layer']}.{row['kind']}"].double().numpy().ravel()
            assert int(row["count"]) == values.size
            assert int(row["nan_count"]) == int(row["inf_count"]) == 0
            for key, expected in (("mean", values.mean()), ("std", values.std()), ("min", values.min()),
                                  ("max", values.max()), ("fro_norm", np.linalg.norm(values))):
                assert float(row[key]) == pytest.approx(expected, rel=1e-6, abs=1e-12), (epoch, row["layer"], key)


def assert_histograms_consistent(paths, epochs):
    """Fixed edges per tensor covering every epoch's range; each density is np.histogram's and integrates to 1."""
    hist_epochs, edges, densities = read_histograms(paths)
    assert hist_epochs == list(epochs)
    stats = read_csv(paths.weight_stats_csv)
    assert set(edges) == {(r["layer"], r["kind"]) for r in stats}
    for key, tensor_edges in edges.items():
        assert np.all(np.diff(tensor_edges) > 0)
        assert densities[key].shape == (len(epochs), len(tensor_edges) - 1)
        for row, epoch in enumerate(epochs):
            values = histogram_values(paths, epoch, *key)
            assert tensor_edges[0] <= values.min() and values.max() <= tensor_edges[-1], (key, epoch)
            assert np.sum(densities[key][row] * np.diff(tensor_edges)) == pytest.approx(1.0, rel=1e-9), (key, epoch)
            expected, _ = np.histogram(values, bins=tensor_edges, density=True)
            np.testing.assert_allclose(densities[key][row], expected, rtol=1e-9, atol=1e-12, err_msg=f"{key} {epoch}")
    return edges, densities


def test_histograms_have_fixed_edges_per_tensor(data_dir, paths):
    analyse(data_dir)
    _, edges, _ = read_histograms(paths)
    assert all(len(e) == 101 for e in edges.values())
    assert ("fc1", "weight") in edges and ("bn", "bias") in edges and ("head", "weight") in edges
    assert_histograms_consistent(paths, EPOCHS)


def test_bins_option(data_dir, paths):
    analyse(data_dir, bins=7)
    _, edges, densities = read_histograms(paths)
    assert {len(e) for e in edges.values()} == {8}
    assert_histograms_consistent(paths, EPOCHS)


def test_other_bins_on_an_analysed_run_recount_its_histograms_and_nothing_else(data_dir, paths):
    analyse(data_dir)
    rows = layer_rows(paths)
    report = analyse(data_dir, bins=12)
    assert report.analysed == [] and report.up_to_date == list(EPOCHS)
    _, edges, _ = read_histograms(paths)
    assert {len(e) for e in edges.values()} == {13}
    assert_histograms_consistent(paths, EPOCHS)
    assert layer_rows(paths) == rows


@pytest.mark.parametrize("damage", ["manifest", "layers.csv", "weight_stats.csv", "histograms.npz"])
def test_a_damaged_results_file_is_set_aside_and_rebuilt(data_dir, paths, damage, capfd):
    analyse(data_dir)
    files = [paths.layers_csv, paths.weight_stats_csv, paths.histograms]
    before = {f: f.read_bytes() for f in files}
    damaged = {"manifest": paths.analysis_manifest, "layers.csv": paths.layers_csv,
               "weight_stats.csv": paths.weight_stats_csv, "histograms.npz": paths.histograms}[damage]
    if damage == "layers.csv":  # a hand edit that dropped a column
        damaged.write_text("\n".join(",".join(row.split(",")[:5]) for row in damaged.read_text().splitlines()))
    else:
        damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    report = analyse(data_dir, epochs=[0])  # what was lost is rebuilt for every epoch, not only those asked for
    assert report.errors == {} and "cannot be read" in capfd.readouterr().err
    if damage == "histograms.npz":  # the spectra stand: only the histograms are counted again
        assert report.analysed == [] and report.up_to_date == list(EPOCHS)
    else:
        assert report.analysed == list(EPOCHS)
    assert {f: f.read_bytes() for f in files} == before
    if damage != "manifest":
        assert damaged.with_name(damaged.name + ".damaged").exists()
    assert analyse(data_dir).up_to_date == list(EPOCHS)


def test_a_missing_esd_file_has_its_epoch_analysed_again(data_dir, paths):
    analyse(data_dir)
    rows = layer_rows(paths)
    paths.esd(2).unlink()
    assert analyse(data_dir).analysed == [2]
    assert paths.esd(2).exists() and layer_rows(paths) == rows


def test_a_run_without_checkpoints_is_a_clear_error(tmp_path):
    from training.recorder import RunRecorder

    with RunRecorder(tmp_path, "empty", total_epochs=3):
        pass
    with pytest.raises(AnalysisError, match="has no checkpoints yet"):
        analyze_run(tmp_path, "empty", progress=False)


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0,,1"], "expected comma-separated epoch numbers"),
    (["--bins", "5000"], "at most 1000 bins"),
    (["--bins", "0"], "expected a positive integer"),
    (["--device", "tpu"], "unknown device 'tpu'; use cpu or cuda"),
])
def test_bad_analysis_arguments_are_one_line_and_exit_2(data_dir, args, message):
    result = spectrascope("analyze", "--run", RUN_ID, "--data-dir", str(data_dir), *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


# --- incremental updates -------------------------------------------------------------------------


def analysis_files(paths):
    return [paths.layers_csv, paths.weight_stats_csv, paths.histograms, *(paths.esd(e) for e in EPOCHS)]


def test_rerunning_changes_nothing(data_dir, paths):
    analyse(data_dir)
    before = mtimes(analysis_files(paths))
    contents = {f: open(f, "rb").read() for f in before}
    result = spectrascope("analyze", "--run", RUN_ID, "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "analysed 0 epoch(s), 4 already up to date" in result.stdout
    assert mtimes(analysis_files(paths)) == before
    assert all(open(f, "rb").read() == data for f, data in contents.items())
    report = analyse(data_dir)
    assert report.analysed == [] and report.up_to_date == list(EPOCHS)


def test_an_up_to_date_run_is_reported_without_importing_torch(data_dir, paths):
    analyse(data_dir)
    code = ("import sys; from spectrascope.cli import main; status = main(sys.argv[1:]); "
            "print('torch imported:', 'torch' in sys.modules); sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, "analyze", "--run", RUN_ID, "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "analysed 0 epoch(s), 4 already up to date" in result.stdout and "torch imported: False" in result.stdout
    assert read_run(paths).analysis.status == "completed"


@pytest.mark.parametrize("how", ["rewritten with other weights", "touched"])
def test_a_changed_checkpoint_is_the_only_epoch_reanalysed(data_dir, paths, how):
    analyse(data_dir)
    rows_before = layer_rows(paths)
    esd_before = mtimes(paths.esd(e) for e in EPOCHS)
    if how == "touched":
        stat = paths.checkpoint(2).stat()
        os.utime(paths.checkpoint(2), ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    else:
        rewrite_checkpoint(paths, 2, lambda sd: sd["fc1.weight"].mul_(3.0))
    report = analyse(data_dir)
    assert report.analysed == [2] and report.up_to_date == [0, 1, 3]
    esd_after = mtimes(paths.esd(e) for e in EPOCHS)
    assert {e for e in EPOCHS if esd_after[str(paths.esd(e))] != esd_before[str(paths.esd(e))]} == {2}
    rows_after = layer_rows(paths)
    assert [r for r in rows_after if r["epoch"] != "2"] == [r for r in rows_before if r["epoch"] != "2"]
    changed = {r["layer"] for r, old in zip(rows_after, rows_before) if r != old}
    assert changed == (set() if how == "touched" else {"fc1"})
    if how != "touched":
        fc1 = {int(r["epoch"]): float(r["lambda_max"]) for r in rows_after if r["layer"] == "fc1"}
        old = {int(r["epoch"]): float(r["lambda_max"]) for r in rows_before if r["layer"] == "fc1"}
        assert fc1[2] == pytest.approx(9.0 * old[2], rel=1e-6)  # W * 3 (in float32): eigenvalues * 9
    assert_histograms_consistent(paths, EPOCHS)


def test_a_much_wider_new_epoch_regrows_that_tensors_edges_and_recounts_every_epoch(data_dir, paths):
    analyse(data_dir)
    _, old_edges, old_densities = read_histograms(paths)
    state_dict = load(paths.checkpoint(3))
    state_dict["fc1.weight"] *= 20.0
    torch.save(state_dict, paths.checkpoint(4))
    report = analyse(data_dir)
    assert report.analysed == [4] and report.up_to_date == list(EPOCHS)
    edges, densities = assert_histograms_consistent(paths, (*EPOCHS, 4))
    regrown = {key for key in edges if not np.array_equal(edges[key], old_edges[key])}
    assert regrown == {("fc1", "weight")}
    assert edges[("fc1", "weight")][-1] > 10 * old_edges[("fc1", "weight")][-1]
    # tensors whose edges stayed keep their old epochs' densities exactly
    for key in set(edges) - regrown:
        np.testing.assert_array_equal(densities[key][: len(EPOCHS)], old_densities[key])


def test_epochs_option_analyses_only_those(data_dir, paths):
    result = spectrascope("analyze", "--run", RUN_ID, "--data-dir", str(data_dir), "--epochs", "0,2")
    assert result.returncode == 0, result.stderr
    assert "analysed 2 epoch(s)" in result.stdout
    assert sorted({int(r["epoch"]) for r in layer_rows(paths)}) == [0, 2]
    assert sorted(p.name for p in paths.esd(0).parent.iterdir() if p.suffix == ".npz") == [
        "epoch_0000.npz", "epoch_0002.npz"]
    assert_histograms_consistent(paths, [0, 2])
    report = analyse(data_dir)
    assert report.analysed == [1, 3] and report.up_to_date == [0, 2]
    assert sorted({int(r["epoch"]) for r in layer_rows(paths)}) == list(EPOCHS)
    assert_histograms_consistent(paths, EPOCHS)


def test_weightwatcher_backend_through_the_cli_gives_the_same_numbers(data_dir, paths):
    analyse(data_dir)
    fast = layer_rows(paths)
    result = spectrascope("analyze", "--run", RUN_ID, "--data-dir", str(data_dir), "--backend", "weightwatcher")
    assert result.returncode == 0, result.stderr
    assert "analysed 4 epoch(s)" in result.stdout  # a different backend redoes every epoch
    reference = layer_rows(paths)
    assert read_run(paths).analysis.backend == "weightwatcher"

    def parsed(rows):
        return [{**r, **{k: int(r[k]) for k in ("N", "M", "num_evals", "num_pl_spikes")}} for r in rows]

    for epoch in EPOCHS:
        in_epoch = [r for r in parsed(reference) if int(r["epoch"]) == epoch]
        with np.load(paths.esd(epoch)) as esd:
            assert_backends_agree([r for r in parsed(fast) if int(r["epoch"]) == epoch], in_epoch, dict(esd))
    assert [r["warning"] for r in fast] == [r["warning"] for r in reference]


def test_worker_processes_write_the_same_analysis(data_dir, paths, tmp_path):
    serial_dir = tmp_path / "serial"
    shutil.copytree(data_dir, serial_dir)
    analyse(serial_dir, workers=1)
    report = analyse(data_dir, workers=2)
    assert report.analysed == list(EPOCHS)
    serial = run_paths(serial_dir, RUN_ID)
    assert layer_rows(paths) == layer_rows(serial)
    assert read_csv(paths.weight_stats_csv) == read_csv(serial.weight_stats_csv)
    for epoch in EPOCHS:
        with np.load(paths.esd(epoch)) as a, np.load(serial.esd(epoch)) as b:
            assert all(np.array_equal(a[k], b[k]) for k in b.files) and a.files == b.files
    _, edges, densities = read_histograms(paths)
    _, serial_edges, serial_densities = read_histograms(serial)
    assert all(np.array_equal(edges[k], serial_edges[k]) and np.array_equal(densities[k], serial_densities[k])
               for k in serial_edges)


def test_this_process_and_a_worker_share_the_tasks_from_either_end():
    tasks = {epoch: (0.5,) for epoch in range(8)}  # 4 s of work: the worker is up after ~1.5 s
    with worker_pool(2, False) as pool:
        done = list(run_tasks(pid_after, tasks, pool, "test", False, lambda epoch: None))
    assert sorted(epoch for epoch, _ in done) == list(range(8))  # each task exactly once
    by_epoch = dict(done)
    assert by_epoch[7] == os.getpid()  # this process starts at once, from the back
    assert by_epoch[0] != os.getpid()  # the worker takes the front
    assert len(set(by_epoch.values())) == 2


def test_a_task_that_fails_in_a_worker_raises_here():
    tasks = {0: (0.0, True), 1: (3.0, False)}  # this process runs task 1 while the worker starts and fails task 0
    with worker_pool(2, False) as pool, pytest.raises(ValueError, match="task failed in process") as raised:
        list(run_tasks(pid_after, tasks, pool, "test", False, lambda epoch: None))
    assert str(os.getpid()) not in str(raised.value)


def test_a_worker_that_dies_is_a_clear_error():
    tasks = {0: (0.0, False, True), 1: (3.0,)}  # the worker takes task 0 and its process ends
    with worker_pool(2, False) as pool, pytest.raises(AnalysisError, match="worker process died .* go on"):
        list(run_tasks(pid_after, tasks, pool, "test", False, lambda epoch: None))


def test_an_analysis_stopped_by_an_error_keeps_the_epochs_it_finished(data_dir, paths):
    paths.esd(2).mkdir(parents=True)  # epoch 2's eigenvalues cannot be written: not the checkpoint's fault
    with pytest.raises(OSError):
        analyse(data_dir, workers=1)
    assert read_csv(paths.layers_csv) and {int(r["epoch"]) for r in read_csv(paths.layers_csv)} == {0, 1}
    paths.esd(2).rmdir()
    report = analyse(data_dir, workers=1)
    assert report.up_to_date == [0, 1] and report.analysed == [2, 3]
    assert_histograms_consistent(paths, EPOCHS)


def test_run_json_records_a_completed_analysis(data_dir, paths):
    analyse(data_dir)
    analysis = read_run(paths).analysis
    assert analysis.status == "completed" and analysis.backend == "fast"
    assert analysis.errors == {} and analysis.epochs_done == len(EPOCHS)


class WideNet(torch.nn.Module):
    """Four 384 x 384 dense layers: about 30 ms of analysis per epoch, long enough to stop one midway."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(*(torch.nn.Linear(384, 384) for _ in range(4)))


KILLED_AFTER_SAVING_25 = """
import os, signal, sys
import analysis.runner
analysis.runner.SAVE_EVERY_SECONDS = 0  # save after every epoch
write_manifest = analysis.runner.write_manifest

def write_then_die(paths, manifest):  # killed (say, by the OOM killer) right after the 25th epoch is saved
    write_manifest(paths, manifest)
    if len(manifest) >= 25:
        os.kill(os.getpid(), signal.SIGKILL)

analysis.runner.write_manifest = write_then_die
analysis.runner.analyze_run(sys.argv[1], "wide", workers=1, progress=False)
"""

SIGTERM_AS_THE_4TH_EPOCH_STARTS = """
import os, signal, sys
import analysis.runner
from spectrascope.cli import main
analyse_epoch, started = analysis.runner._spectra_task, []

def analyse_unless_stopped(*args, **kwargs):
    started.append(args)
    if len(started) == 4:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or the dashboard's Cancel sends it
    return analyse_epoch(*args, **kwargs)

analysis.runner._spectra_task = analyse_unless_stopped
sys.exit(main(sys.argv[1:]))
"""


def saved_epochs(paths) -> int:
    try:
        return len(json.loads(paths.analysis_manifest.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def record_wide_run(data_dir, epochs: int = 40) -> None:
    from training.recorder import RunRecorder

    torch.manual_seed(0)
    model = WideNet()
    with RunRecorder(data_dir, "wide", config={"model": "wide"}, total_epochs=epochs) as run:
        for epoch in range(epochs):
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(1e-4 * torch.randn_like(p))  # ranges stay inside the first epochs' edges
            run.log_epoch(epoch, model)


def test_an_analysis_stopped_midway_resumes_where_it_stopped(tmp_path):
    """Epochs 0-19 analysed, then an analysis of 20-39 killed after saving a few: the re-run redoes none of
    those (it only counts their histograms, on the edges 0-19 set) and ends as an uninterrupted one."""
    record_wide_run(tmp_path / "stopped")
    analyze_run(tmp_path / "stopped", "wide", epochs=list(range(20)), workers=1, progress=False)
    shutil.copytree(tmp_path / "stopped", tmp_path / "whole")
    paths = run_paths(tmp_path / "stopped", "wide")

    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_SAVING_25, str(tmp_path / "stopped")],
                            env={**os.environ, **SINGLE_THREAD_ENV}, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    saved = saved_epochs(paths) - 20
    assert saved == 5
    assert read_histograms(paths)[0] == list(range(20))  # stopped before counting the new epochs

    report = analyze_run(tmp_path / "stopped", "wide", workers=1, progress=False)
    assert len(report.up_to_date) == 20 + saved and len(report.analysed) == 20 - saved  # nothing saved is redone
    whole = run_paths(tmp_path / "whole", "wide")
    analyze_run(tmp_path / "whole", "wide", workers=1, progress=False)
    assert layer_rows(paths) == layer_rows(whole)
    assert read_csv(paths.weight_stats_csv) == read_csv(whole.weight_stats_csv)
    epochs, edges, densities = read_histograms(paths)
    _, whole_edges, whole_densities = read_histograms(whole)
    assert epochs == list(range(40)) and all(densities[k].sum(axis=1).all() for k in densities)
    assert all(np.array_equal(edges[k], whole_edges[k]) and np.array_equal(densities[k], whole_densities[k])
               for k in whole_edges)
    assert analyze_run(tmp_path / "stopped", "wide", workers=1, progress=False).analysed == []


def test_sigterm_stops_an_analysis_that_saves_its_epochs_and_says_cancelled(tmp_path):
    """`kill` (the dashboard's Cancel) stops `spectrascope analyze` like Ctrl-C: the epochs it finished are
    saved at once (not only every SAVE_EVERY_SECONDS), run.json says cancelled and how to go on."""
    record_wide_run(tmp_path)
    paths = run_paths(tmp_path, "wide")
    stopped = subprocess.run([sys.executable, "-c", SIGTERM_AS_THE_4TH_EPOCH_STARTS, "analyze", "--run", "wide",
                              "--data-dir", str(tmp_path), "--workers", "1"], env={**os.environ, **SINGLE_THREAD_ENV},
                             capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 130 and "cancelled" in stopped.stderr, (stopped.returncode, stopped.stderr)
    analysis = read_run(paths).analysis
    assert analysis.status == "cancelled" and "run the analysis again" in analysis.error, analysis
    assert saved_epochs(paths) == 3
    assert {int(row["epoch"]) for row in layer_rows(paths)} == {0, 1, 2}
    report = analyze_run(tmp_path, "wide", workers=1, progress=False)
    assert report.up_to_date == [0, 1, 2] and report.analysed == list(range(3, 40))
    assert read_run(paths).analysis.status == "completed"


def _pool_workers(pid: int) -> list[int]:
    """The analysis's worker processes: its children running multiprocessing's spawn_main."""
    try:
        children = [int(c) for task in os.listdir(f"/proc/{pid}/task")
                    for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
    except FileNotFoundError:
        return []
    return [c for c in children if b"spawn_main" in _cmdline(c)]


def _cmdline(pid: int) -> bytes:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read()
    except FileNotFoundError:
        return b""


def test_an_analysis_killed_with_sigkill_takes_its_worker_processes_with_it(tmp_path):
    """kill -9 of an analysis (its Celery worker lost) must not leave its pool workers idling on, each holding
    hundreds of MB, as they did before they were bound to their parent's life."""
    record_wide_run(tmp_path)
    analysis = subprocess.Popen([*SPECTRASCOPE, "analyze", "--run", "wide", "--data-dir", str(tmp_path),
                                 "--workers", "2", "--randomize"], env={**os.environ, **SINGLE_THREAD_ENV},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = wait_for(lambda: _pool_workers(analysis.pid), 60, "the analysis's worker process", process=analysis)
    analysis.kill()
    analysis.wait()
    wait_for(lambda: not any(_cmdline(pid) for pid in workers), 30, "its workers to exit")
