"""Checkpoints that cannot be analysed, unknown runs and epochs, and pickles that must never run."""

import pytest
import torch

from analysis.runner import analyze_run
from analysis_helpers import EPOCHS, RUN_ID, Payload, TinyNet, load, single_threaded, spectrascope
from spectrascope.runs import read_run, run_paths
from spectrascope.runs.files import read_csv


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_threaded():
        yield


def write_truncated(path, good):
    torch.save(good, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_nan(path, good):
    good = dict(good)
    good["fc1.weight"] = good["fc1.weight"].clone()
    good["fc1.weight"][0, 0] = float("nan")
    torch.save(good, path)


BAD_CHECKPOINTS = {
    "truncated": write_truncated,
    "empty": lambda path, good: path.write_bytes(b""),
    "text": lambda path, good: path.write_text("not a checkpoint at all\n"),
    "list": lambda path, good: torch.save(list(good.values()), path),
    "tensor": lambda path, good: torch.save(torch.randn(20, 20), path),
    "nan": write_nan,
    "no analysable layer": lambda path, good: torch.save(
        {"bn.weight": torch.ones(16), "bn.bias": torch.zeros(16), "ln.weight": torch.randn(8)}, path),
    "pickled object": lambda path, good: torch.save(
        {"w": torch.ones(2, 2), "x": Payload(path.parent.parent / "pwned")}, path),
}
EXPECTED_MESSAGE = {"truncated": "truncated or damaged", "empty": "the file is empty",
                    "text": "not a PyTorch checkpoint", "list": "not a state_dict", "tensor": "not a state_dict",
                    "nan": "non-finite", "no analysable layer": "no analysable layer", "pickled object": "cannot read"}




@pytest.fixture
def paths(data_dir):
    return run_paths(data_dir, RUN_ID)


def analyse(data_dir, **kwargs):
    return analyze_run(data_dir, RUN_ID, progress=False, **kwargs)


def rows_of(paths, epochs):
    return [r for r in read_csv(paths.layers_csv) if int(r["epoch"]) in epochs]


@pytest.mark.parametrize("kind", BAD_CHECKPOINTS)
def test_a_bad_new_epoch_is_reported_and_the_others_are_kept(data_dir, paths, kind):
    analyse(data_dir)
    before = read_csv(paths.layers_csv)
    BAD_CHECKPOINTS[kind](paths.checkpoint(4), load(paths.checkpoint(3)))
    report = analyse(data_dir)
    assert list(report.errors) == [4] and EXPECTED_MESSAGE[kind] in report.errors[4]
    assert report.analysed == [] and report.up_to_date == list(EPOCHS)
    assert read_csv(paths.layers_csv) == before
    assert not paths.esd(4).exists()
    analysis = read_run(paths).analysis
    assert analysis.status == "failed" and list(analysis.errors) == ["4"]
    assert not (paths.root / "pwned").exists()
    # a failed epoch is retried, and once fixed it is analysed and the error is gone
    assert list(analyse(data_dir).errors) == [4]
    torch.save(load(paths.checkpoint(3)), paths.checkpoint(4))
    report = analyse(data_dir)
    assert report.analysed == [4] and report.errors == {}
    assert read_run(paths).analysis.errors == {} and len(rows_of(paths, {4})) == len(TinyNet.ANALYSABLE)


@pytest.mark.parametrize("kind", ["truncated", "nan"])
def test_a_damaged_epoch_among_good_ones_does_not_lose_their_rows(data_dir, paths, kind):
    BAD_CHECKPOINTS[kind](paths.checkpoint(1), load(paths.checkpoint(1)))
    report = analyse(data_dir)
    assert list(report.errors) == [1] and report.analysed == [0, 2, 3]
    good_rows = rows_of(paths, {0, 2, 3})
    assert len(good_rows) == 3 * len(TinyNet.ANALYSABLE) and rows_of(paths, {1}) == []
    # statistics survive a failed spectral analysis; an unreadable checkpoint has none
    stat_epochs = {int(r["epoch"]) for r in read_csv(paths.weight_stats_csv)}
    assert stat_epochs == ({0, 2, 3} if kind == "truncated" else set(EPOCHS))


def test_statistics_of_a_nan_checkpoint_count_the_nans(data_dir, paths):
    write_nan(paths.checkpoint(2), load(paths.checkpoint(2)))
    analyse(data_dir)
    stats = {(r["epoch"], r["layer"], r["kind"]): r for r in read_csv(paths.weight_stats_csv)}
    row = stats[("2", "fc1", "weight")]
    values = load(paths.checkpoint(2))["fc1.weight"].double()
    finite = values[torch.isfinite(values)]
    assert int(row["nan_count"]) == 1 and int(row["count"]) == values.numel()
    assert float(row["mean"]) == pytest.approx(finite.mean().item(), rel=1e-6)
    assert float(row["max"]) == pytest.approx(finite.max().item(), rel=1e-7)


def test_the_cli_names_each_bad_epoch_analyses_the_rest_and_exits_1(data_dir, paths):
    good = load(paths.checkpoint(3))
    bad_epochs = {1: "truncated", 4: "list", 5: "tensor", 6: "nan", 7: "no analysable layer", 8: "pickled object"}
    analyse(data_dir, epochs=[0, 1])  # epoch 1's rows exist from before it got damaged
    for epoch, kind in bad_epochs.items():
        BAD_CHECKPOINTS[kind](paths.checkpoint(epoch), good)
    result = spectrascope("analyze", "--run", RUN_ID, "--data-dir", str(data_dir))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    for epoch, kind in bad_epochs.items():
        line = next((l for l in result.stderr.splitlines() if l.startswith(f"epoch {epoch}:")), None)
        assert line is not None and EXPECTED_MESSAGE[kind] in line, (epoch, result.stderr)
    assert "analysed 2 epoch(s), 1 already up to date, 6 failed" in result.stdout
    assert {int(r["epoch"]) for r in rows_of(paths, set(range(9)))} >= {0, 2, 3}
    assert len(rows_of(paths, {0, 2, 3})) == 3 * len(TinyNet.ANALYSABLE)
    errors = read_run(paths).analysis.errors
    assert sorted(map(int, errors)) == sorted(bad_epochs)
    assert not (paths.root / "pwned").exists()


def test_a_pickled_object_is_refused_and_never_executed(data_dir, paths, tmp_path):
    # the payload is live: loading it the unsafe way does create its marker
    probe = tmp_path / "probe.pt"
    torch.save({"w": torch.ones(2, 2), "x": Payload(tmp_path / "probe-ran")}, probe)
    torch.load(probe, weights_only=False)
    assert (tmp_path / "probe-ran").exists()

    marker = tmp_path / "pwned"
    torch.save({"w": torch.ones(2, 2), "x": Payload(marker)}, paths.checkpoint(2))
    report = analyse(data_dir)
    assert list(report.errors) == [2] and "epoch_0002.pt" in report.errors[2]
    result = spectrascope("analyze", "--run", RUN_ID, "--data-dir", str(data_dir), "--workers", "2")
    assert result.returncode == 1 and "epoch 2:" in result.stderr
    assert not marker.exists()


def test_an_unknown_run_is_a_one_line_error_and_exit_2(data_dir):
    result = spectrascope("analyze", "--run", "no-such-run", "--data-dir", str(data_dir))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spectrascope: error:") and "no-such-run" in lines[0]


def test_an_epoch_without_a_checkpoint_is_a_one_line_error_and_exit_2(data_dir, paths):
    result = spectrascope("analyze", "--run", RUN_ID, "--data-dir", str(data_dir), "--epochs", "0,9")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spectrascope: error:") and "9" in lines[0]
    assert not paths.layers_csv.exists()


@pytest.mark.parametrize("backend", ["fast", "weightwatcher"])
@pytest.mark.parametrize("layer", ["tiny", "zero"])
def test_a_layer_with_no_power_law_fit_does_not_abort_the_analysis(data_dir, paths, backend, layer):
    """A zero-initialised layer, or one whose eigenvalues are all below 1e-5: weightwatcher reports it with a
    failed fit (alpha -1, num_pl_spikes -1); the run's analysis must carry on with it."""
    state_dict = load(paths.checkpoint(3))
    state_dict["fc1.weight"] = torch.zeros(32, 64) if layer == "zero" else 1e-4 * torch.randn(32, 64)
    torch.save(state_dict, paths.checkpoint(3))
    report = analyse(data_dir, backend=backend)
    assert report.errors == {} and report.analysed == list(EPOCHS)
    fc1 = [r for r in rows_of(paths, {3}) if r["layer"] == "fc1"]
    assert len(fc1) == 1 and fc1[0]["num_pl_spikes"] == "-1" and fc1[0]["warning"] == "fit-failed"
