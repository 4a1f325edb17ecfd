"""The public Python API: `from spectrascope import RunRecorder` and the readers, without importing torch
until the recorder is asked for."""
from __future__ import annotations

import subprocess
import sys

import pytest


def test_the_recorder_and_readers_come_from_the_top_level_name(tmp_path):
    import torch

    from spectrascope import RunRecorder, layers_frame, metrics_frame, read_run, run_paths

    with RunRecorder(tmp_path, "mine", config={"lr": 0.1}, total_epochs=1) as run:
        run.log_epoch(0, {"w": torch.ones(3)}, test_acc=0.25)
        run.log_epoch(1, {"w": torch.ones(3)}, train_loss=1.5, test_acc=0.5)
    paths = run_paths(tmp_path, "mine")
    assert read_run(paths).status == "completed"
    assert metrics_frame(paths)["test_acc"].tolist() == [0.25, 0.5]
    assert layers_frame(paths).empty  # not analysed yet


def test_importing_the_package_loads_no_torch():
    code = "import sys, spectrascope; spectrascope.read_run; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_an_unknown_name_is_an_attribute_error():
    import spectrascope

    with pytest.raises(AttributeError, match="no attribute 'Recorder'"):
        spectrascope.Recorder
