"""`spectrascope check` on real analysed runs: its exit codes, its lines, its JSON and its rules file."""
from __future__ import annotations

import json

import pytest

from helpers import spectrascope
from test_alerts import record_planted_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`planted` goes over-trained with a trap at epoch 1; `fresh` is recorded, never analysed."""
    data_dir = tmp_path_factory.mktemp("check") / "data"
    record_planted_run(data_dir)
    record_planted_run(data_dir, "fresh")
    done = spectrascope("analyze", "--data-dir", data_dir, "--run-id", "planted", "--epochs", "0", "--randomize")
    assert done.returncode == 0, done.stderr
    return data_dir


def check(data_dir, *args):
    return spectrascope("check", "--data-dir", data_dir, *args)


def test_a_run_healthy_at_its_latest_epoch_passes_and_a_layer_gone_bad_fails(runs):
    healthy = check(runs, "planted")  # only epoch 0 analysed: an untrained layer, above the band (not a failure)
    assert healthy.returncode == 0 and healthy.stdout.strip() == "planted: epoch 0, 1 layers: healthy"
    assert spectrascope("analyze", "--data-dir", runs, "--run-id", "planted", "--randomize").returncode == 0
    failing = check(runs, "planted", "--json")
    assert failing.returncode == 1, failing.stderr
    verdict = json.loads(failing.stdout)
    assert verdict["healthy"] is False and verdict["latest"] == 2
    # over-trained at epoch 1 but back in the band at 2: only the trap still holds
    assert [(e["epoch"], e["kind"]) for e in verdict["breaking"]] == [(1, "trap")]
    text = check(runs, "planted")
    assert text.returncode == 1 and "1 event(s) break the rules" in text.stdout and "  epoch 1  0  trap" in text.stdout


def test_a_rules_file_decides_what_fails(runs, tmp_path):
    lenient = '[thresholds]\nover_trained_below = 1.5\n[[fail]]\nkinds = ["over-trained"]\n'
    (tmp_path / "lenient.toml").write_text(lenient)
    (tmp_path / "strict.toml").write_text('[[fail]]\nkinds = ["over-trained"]\nwhen = "any"\n')
    assert check(runs, "planted", "--rules", tmp_path / "lenient.toml").returncode == 0
    strict = check(runs, "planted", "--rules", tmp_path / "strict.toml")
    assert strict.returncode == 1 and "over-trained (warning): alpha 1.7 < 2" in strict.stdout


@pytest.mark.parametrize("args, says", [
    (("nope",), "no run 'nope'"),
    (("fresh",), "run 'fresh' has no analysis to check: run `spectrascope analyze --run-id fresh`"),
    (("planted", "--rules", "/no/such.toml"), "rules file /no/such.toml cannot be read"),
])
def test_bad_input_exits_2_with_one_line_saying_what_to_do(runs, args, says):
    done = check(runs, *args)
    assert done.returncode == 2 and says in done.stderr and done.stdout == ""
