"""Recording a user's own training loop with training.recorder.RunRecorder."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from helpers import METRICS_HEADER, checkpoint_files, read_metrics_csv, read_run_json, run_dir
from spectrascope.runs import RunBusyError, RunFormatError, job_is_active, run_paths
from training.recorder import RunRecorder


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def copy_state(model: nn.Module) -> dict:
    return {key: value.clone() for key, value in model.state_dict().items()}


def train_a_little(model: nn.Module, optimizer, x, y) -> float:
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def record_three_epochs(data_dir, run_id="mine"):
    """A user's loop: epoch 0 untrained, then 3 epochs. Returns the logged rows and weights per epoch."""
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    rows, weights = {}, {}
    with RunRecorder(data_dir, run_id, config={"lr": 0.1, "model": "mlp"}, total_epochs=3) as run:
        rows[0] = {"test_loss": nn.functional.cross_entropy(model(x), y).item(), "test_acc": 0.5}
        weights[0] = copy_state(model)
        run.log_epoch(0, model, **rows[0])
        for epoch in range(1, 4):
            rows[epoch] = {"train_loss": train_a_little(model, optimizer, x, y), "lr": 0.1 / epoch,
                           "test_acc": 0.5 + epoch / 10}
            weights[epoch] = copy_state(model)
            run.log_epoch(epoch, model, **rows[epoch])
    return rows, weights


def test_user_loop_produces_a_completed_run(tmp_path):
    record_three_epochs(tmp_path)
    record = read_run_json(tmp_path, "mine")
    assert record["status"] == "completed" and record["error"] is None
    assert record["kind"] == "trained" and record["id"] == "mine"
    assert record["config"] == {"lr": 0.1, "model": "mlp"}
    assert record["progress"]["epoch"] == 3 and record["progress"]["total_epochs"] == 3
    assert record["provenance"]["torch"] == torch.__version__
    assert not job_is_active(run_paths(tmp_path, "mine"))


def test_user_loop_metrics_rows_hold_exactly_what_was_logged(tmp_path):
    rows, _ = record_three_epochs(tmp_path)
    header, written = read_metrics_csv(tmp_path, "mine")
    assert header == METRICS_HEADER
    assert [int(row["epoch"]) for row in written] == [0, 1, 2, 3]
    for row in written:
        logged = rows[int(row["epoch"])]
        for column in METRICS_HEADER[1:]:
            if column in logged:
                assert float(row[column]) == logged[column]  # full precision round trip
            else:
                assert row[column] == ""


def test_user_loop_checkpoints_hold_the_weights_of_each_epoch(tmp_path):
    _, weights = record_three_epochs(tmp_path)
    assert checkpoint_files(tmp_path, "mine") == [f"epoch_{e:04d}.pt" for e in range(4)]
    for epoch in range(4):
        path = run_dir(tmp_path, "mine") / "checkpoints" / f"epoch_{epoch:04d}.pt"
        saved = torch.load(path, weights_only=True)
        model = tiny_model()
        model.load_state_dict(saved)  # strict: exactly the model's keys
        assert all(torch.equal(saved[key], weights[epoch][key]) for key in weights[epoch])
    assert not torch.equal(weights[0]["0.weight"], weights[3]["0.weight"])


def test_log_epoch_copies_the_weights_at_once(tmp_path):
    model = tiny_model()
    before = copy_state(model)
    with RunRecorder(tmp_path, "copy", total_epochs=1) as run:
        run.log_epoch(0, model)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(1.0)  # training goes on while the checkpoint is still being written
    saved = torch.load(run_dir(tmp_path, "copy") / "checkpoints" / "epoch_0000.pt", weights_only=True)
    assert all(torch.equal(saved[key], before[key]) for key in before)


def test_a_weight_tied_in_the_model_is_kept_once_in_its_checkpoint(tmp_path):
    """A language model's head shares its token embedding's weight: its checkpoint holds that tensor once,
    as torch.save of the state dict does, and loads back tied."""
    model = nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 50, bias=False))
    model[1].weight = model[0].weight
    with RunRecorder(tmp_path, "tied", total_epochs=1) as run:
        run.log_epoch(0, model)
    path = run_dir(tmp_path, "tied") / "checkpoints" / "epoch_0000.pt"
    saved = torch.load(path, weights_only=True)
    assert saved["1.weight"].untyped_storage().data_ptr() == saved["0.weight"].untyped_storage().data_ptr()
    assert torch.equal(saved["1.weight"], model[0].weight.detach())
    torch.save(model.state_dict(), tmp_path / "reference.pt")
    assert path.stat().st_size <= (tmp_path / "reference.pt").stat().st_size + 1024  # not two copies


def test_exception_in_the_loop_marks_the_run_failed_with_its_message(tmp_path):
    with pytest.raises(RuntimeError, match="loss went NaN"):
        with RunRecorder(tmp_path, "boom", total_epochs=5) as run:
            run.log_epoch(0, tiny_model(), test_acc=0.1)
            raise RuntimeError("loss went NaN at step 7")
    record = read_run_json(tmp_path, "boom")
    assert record["status"] == "failed"
    assert "loss went NaN at step 7" in record["error"]
    assert record["progress"]["phase"] == "failed"
    assert checkpoint_files(tmp_path, "boom") == ["epoch_0000.pt"]  # what was logged is kept


def test_unknown_metric_names_raise_value_error_and_write_nothing(tmp_path):
    with RunRecorder(tmp_path, "names", total_epochs=1) as run:
        with pytest.raises(ValueError, match="accuracy"):
            run.log_epoch(0, tiny_model(), accuracy=0.9)
        run.log_epoch(0, tiny_model(), test_acc=0.9)
    _, written = read_metrics_csv(tmp_path, "names")
    assert [(row["epoch"], row["test_acc"]) for row in written] == [("0", "0.9")]
    assert read_run_json(tmp_path, "names")["status"] == "completed"


def test_existing_run_is_refused_without_resume(tmp_path):
    record_three_epochs(tmp_path)
    before = (run_dir(tmp_path, "mine") / "run.json").read_bytes()
    with pytest.raises(RunFormatError, match="already exists"):
        with RunRecorder(tmp_path, "mine", total_epochs=3):
            pass
    assert (run_dir(tmp_path, "mine") / "run.json").read_bytes() == before


def test_second_recorder_on_a_run_in_progress_is_refused_as_busy(tmp_path):
    with RunRecorder(tmp_path, "held", total_epochs=1) as run:
        assert job_is_active(run_paths(tmp_path, "held"))
        with pytest.raises(RunBusyError, match="busy"):
            with RunRecorder(tmp_path, "held", resume=True):
                pass
        run.log_epoch(0, tiny_model(), test_acc=0.2)
    assert read_run_json(tmp_path, "held")["status"] == "completed"


def test_refused_resume_of_a_missing_run_leaves_nothing_behind(tmp_path):
    """A failed attempt must not leave a stub folder: `spectrascope train --run-id ghost` would then refuse
    the id as 'already exists', and `--resume` would say its run.json is missing."""
    with pytest.raises(RunFormatError, match="does not exist"):
        with RunRecorder(tmp_path, "ghost", resume=True):
            pass
    assert not run_dir(tmp_path, "ghost").exists()


def test_training_a_reserved_run_keeps_the_time_it_was_created(tmp_path):
    """The dashboard reserves a run when the job is submitted; the job starting later does not re-create it."""
    from spectrascope.runs import new_run_record, read_run, write_run

    paths = run_paths(tmp_path, "queued")
    paths.root.mkdir(parents=True)
    reserved = new_run_record("queued", kind="trained", preset=None, config={}, total_epochs=1, provenance={})
    write_run(paths, replace(reserved, created="2000-01-01T00:00:00+00:00"))
    with RunRecorder(tmp_path, "queued", total_epochs=1) as run:
        run.log_epoch(0, tiny_model(), test_acc=0.5)
    record = read_run(paths)
    assert record.created == "2000-01-01T00:00:00+00:00" and record.status == "completed"
