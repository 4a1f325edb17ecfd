"""The documented CPU recipe (docs/health.md, "A run that raises events"): too large a learning rate with no
weight decay and no mixup drives most of the demo network's layers out of the band within a few epochs, where
the demo's own settings leave one or two at its edge. Real training, real analysis, real `check`."""
from __future__ import annotations

import json

from helpers import spectrascope

RECIPE = ("--lr", "2", "--weight-decay", "0", "--mixup-alpha", "0", "--batch-size", "16")


def _over_trained(data_dir, run_id: str, *flags: str) -> int:
    trained = spectrascope("train", "--preset", "demo", "--epochs", "4", "--run-id", run_id, "--data-dir", data_dir,
                           *flags, timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert spectrascope("analyze", "--run-id", run_id, "--data-dir", data_dir).returncode == 0
    checked = spectrascope("check", run_id, "--json", "--data-dir", data_dir)
    assert checked.returncode in (0, 1), checked.stderr
    return sum(event["kind"] == "over-trained" for event in json.loads(checked.stdout)["breaking"])


def test_too_large_a_learning_rate_leaves_many_layers_over_trained_the_demo_few(tmp_path):
    hot, calm = _over_trained(tmp_path, "hot", *RECIPE), _over_trained(tmp_path, "calm")
    assert hot >= 10 and hot >= 3 * max(calm, 1), (hot, calm)
