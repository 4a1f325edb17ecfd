"""Bad input to `spectrascope train`: exit status 2, one line on stderr naming the problem, nothing written."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

import pytest
import torch

from helpers import REPO, SPECTRASCOPE, cli_env, read_run_json, run_dir, snapshot_tree, spectrascope
from spectrascope.runs import run_paths
from training.config import MAX_SEED, PRESETS
from training.loop import epoch_generators
from training.recorder import RunRecorder


def assert_refused(process, *fragments: str) -> str:
    """Exit 2 and exactly one stderr line `spectrascope: error: ...` containing every fragment."""
    assert process.returncode == 2, (process.returncode, process.stderr)
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith("spectrascope: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def assert_no_run_written(data_dir):
    runs = data_dir / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


BAD_INPUT = {
    "unknown-preset": (["--preset", "nope"], ["unknown preset 'nope'", "cifar100-resnet18", "demo"]),
    "epochs-abc": (["--preset", "demo", "--epochs", "abc"], ["--epochs", "invalid int value: 'abc'"]),
    "epochs-0": (["--preset", "demo", "--epochs", "0"], ["epochs must be positive"]),
    "epochs-negative": (["--preset", "demo", "--epochs", "-3"], ["epochs must be positive"]),
    "run-id-slash": (["--preset", "demo", "--run-id", "a/b"], ["invalid run id 'a/b'"]),
    "run-id-dotdot": (["--preset", "demo", "--run-id", "a..b"], ["invalid run id 'a..b'", ".."]),
    "run-id-is-dotdot": (["--preset", "demo", "--run-id", ".."], ["invalid run id '..'"]),
    "run-id-empty": (["--preset", "demo", "--run-id", ""], ["invalid run id ''"]),
    "data-dir-empty": (["--preset", "demo", "--data-dir", ""], ["--data-dir must not be empty"]),
    "no-preset": (["--run-id", "x"], ["--preset is required"]),
    "resume-missing-run": (["--resume", "--run-id", "ghost"], ["no run 'ghost'"]),
    "lr-inf": (["--preset", "demo", "--lr", "inf"], ["lr must be a positive number of at most 10"]),
    "lr-nan": (["--preset", "demo", "--lr", "nan"], ["lr must be a positive number of at most 10"]),
    "weight-decay-inf": (["--preset", "demo", "--weight-decay", "inf"], ["weight-decay must be a finite number"]),
    "mixup-alpha-inf": (["--preset", "demo", "--mixup-alpha", "inf"], ["mixup-alpha must be a finite number"]),
    "seed-negative": (["--preset", "demo", "--seed", "-1"], [f"seed must be from 0 to 2**44 - 1 ({MAX_SEED})"]),
    "seed-overflowing-epoch-seeds": (["--preset", "demo", "--seed", str(2**45)], ["seed must be from 0"]),
    "seed-past-64-bits": (["--preset", "demo", "--seed", "1180591620717411303424"], ["seed must be from 0"]),
    "width-past-memory": (["--preset", "demo", "--width", "1000000"],
                          ["width 1000000 is too large for this machine's", "GiB of memory", "smaller --width"]),
}


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    """Every BAD_INPUT case run at once (each CLI start imports torch: seconds), each in its own folder."""
    started = {}
    for name, (args, _) in BAD_INPUT.items():
        folder = tmp_path_factory.mktemp(name)
        command = [*SPECTRASCOPE, "train", "--data-dir", str(folder / "data"), *args]
        started[name] = (folder, subprocess.Popen(command, cwd=folder, env=cli_env(), stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True))
    results = {}
    for name, (folder, process) in started.items():
        stdout, stderr = process.communicate(timeout=120)
        results[name] = folder, subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return results


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_with_one_line_and_nothing_written(bad_input_results, case):
    folder, process = bad_input_results[case]
    assert_refused(process, *BAD_INPUT[case][1])
    assert_no_run_written(folder / "data")
    assert sorted(p.name for p in folder.iterdir()) in ([], ["data"])  # nothing escaped the data dir either


def test_missing_cifar100_is_refused_naming_the_folder_and_download(tmp_path):
    data_dir = tmp_path / "data"
    process = spectrascope("train", "--preset", "cifar100-resnet18", "--data-dir", data_dir, "--run-id", "c",
                           cwd=tmp_path)
    assert_refused(process, str(data_dir / "datasets" / "cifar-100-python"), "--download")
    assert_no_run_written(data_dir)


def test_data_dir_under_a_regular_file_is_refused_as_not_writable(tmp_path):
    (tmp_path / "f").write_text("a file, not a folder")
    process = spectrascope("train", "--preset", "demo", "--data-dir", tmp_path / "f" / "sub", "--run-id", "w",
                           cwd=tmp_path)
    assert_refused(process, "data directory", "not writable", "--data-dir")
    assert (tmp_path / "f").read_text() == "a file, not a folder"


def test_existing_run_id_without_resume_is_refused_and_left_untouched(tmp_path):
    data_dir = tmp_path / "data"
    with RunRecorder(data_dir, "taken", config={"note": "mine"}, total_epochs=1) as run:
        run.log_epoch(0, {"w": torch.ones(2)}, test_acc=0.5)
    before = snapshot_tree(run_dir(data_dir, "taken"))

    process = spectrascope("train", "--preset", "demo", "--data-dir", data_dir, "--run-id", "taken", cwd=tmp_path)
    assert_refused(process, "'taken' already exists", "--resume")
    assert snapshot_tree(run_dir(data_dir, "taken")) == before
    assert read_run_json(data_dir, "taken")["status"] == "completed"


DEMO_CONFIG = replace(PRESETS["demo"], epochs=2).to_dict()

# (how run.json of a completed two-epoch run is changed, extra flags, what the refusal says)
RESUME_REFUSED = {
    "completed": (lambda record: None, [], ["run 'r' is already complete (2/2 epochs); nothing to resume"]),
    "imported": (lambda record: record.update(kind="imported", config={"source": "/elsewhere"}), [],
                 ["run 'r' was imported, not trained by spectrascope: it cannot be resumed"]),
    "no-config": (lambda record: record.pop("config"), [], ["run.json has no training config", "cannot be resumed"]),
    "config-lr-text": (lambda record: record["config"].update(lr="fast"), [],
                       ["run.json has a config that cannot be trained", "lr must be a number, not 'fast'"]),
    "config-lr-infinite": (lambda record: record["config"].update(lr=float("inf")), [],
                           ["run.json", "lr must be a positive number of at most 10"]),
    "config-unknown-key": (lambda record: record["config"].update(dropout=0.5), [],
                           ["run.json", "unknown hyper-parameters dropout"]),
    "changed-lr": (lambda record: None, ["--lr", "0.5"],
                   ["own config; drop the flags that differ from it: --lr 0.5 (the run has 0.1)"]),
    "changed-batch-size": (lambda record: None, ["--preset", "demo", "--lr", "0.1", "--batch-size", "8"],
                           ["differ from it: --batch-size 8 (the run has 64)"]),
    "changed-preset": (lambda record: None, ["--preset", "cifar100-resnet18"],
                       ["differ from it: --preset cifar100-resnet18 (the run has demo)"]),
}


def completed_run_with_a_damaged_checkpoint(data_dir, edit) -> None:
    """Run 'r' as the trainer leaves it after both epochs, with run.json passed through `edit`; its last
    checkpoint is garbage, so a resume that read anything would fail differently."""
    with RunRecorder(data_dir, "r", config=DEMO_CONFIG, preset="demo", total_epochs=2) as run:
        for epoch in range(3):
            run.log_epoch(epoch, {"w": torch.ones(2)}, training_state={}, test_acc=0.5)
    paths = run_paths(data_dir, "r")
    paths.checkpoint(2).write_bytes(b"garbage")
    record = json.loads(paths.run_json.read_text())
    edit(record)
    paths.run_json.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")  # as a hand edit leaves it


@pytest.mark.parametrize("case", list(RESUME_REFUSED))
def test_resume_is_refused_with_one_line_and_the_run_untouched(tmp_path, case):
    edit, flags, fragments = RESUME_REFUSED[case]
    data_dir = tmp_path / "data"
    completed_run_with_a_damaged_checkpoint(data_dir, edit)
    before = snapshot_tree(run_dir(data_dir, "r"))
    process = spectrascope("train", "--resume", "--run-id", "r", *flags, "--data-dir", data_dir, cwd=tmp_path)
    assert_refused(process, *fragments)
    assert snapshot_tree(run_dir(data_dir, "r")) == before


def test_largest_accepted_seed_seeds_every_epochs_generators():
    assert replace(PRESETS["demo"], seed=MAX_SEED).problems() == []
    epoch_generators(MAX_SEED, 10**6, torch.device("cpu"))  # the derived torch seed must stay below 2**64


def test_help_shows_each_presets_value_of_every_hyper_parameter():
    process = spectrascope("train", "--help")
    text = " ".join(process.stdout.split())  # argparse wraps lines
    assert process.returncode == 0
    assert "--width WIDTH channels of the first ResNet stage (64 = standard ResNet-18) " \
           "(cifar100-resnet18: 64, demo: 16)" in text
    assert "--flip, --no-flip random horizontal flips (cifar100-resnet18: True, demo: False)" in text


def test_version_is_the_one_pyproject_declares():
    declared = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    process = spectrascope("--version")
    assert process.returncode == 0 and process.stdout.strip() == f"spectrascope {declared}", process
