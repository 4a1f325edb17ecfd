"""`spectrascope import` of checkpoints as other tools write them: PyTorch Lightning's ModelCheckpoint files and
Hugging Face Trainer output folders (single, sharded, safetensors and .bin), made by the real libraries where they
save them; such runs are numbered by training step, and the page says "step"."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from analysis_helpers import load, spectrascope
from helpers import TinyMLP, snapshot_tree
from spectrascope import metrics_frame
from spectrascope.runs import checkpoint_epochs, read_run, run_paths
from spectrascope.runs.files import read_csv


def lightning_checkpoints(folder, filename=None, logs=None, seed: int = 0) -> dict:
    """Three epochs of a real Lightning Trainer (4 steps each) saving every epoch (ModelCheckpoint's default
    names, or `filename`, watching val_loss) and last.ckpt, logging to a CSVLogger in `logs` if given; the
    final weights of the LightningModule's `model`."""
    import lightning  # the test extra: as users' Lightning writes its checkpoints

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = TinyMLP()

        def training_step(self, batch, index):
            x, y = batch
            loss = nn.functional.cross_entropy(self.model(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, index):
            x, y = batch
            self.log("val_loss", nn.functional.cross_entropy(self.model(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    torch.manual_seed(seed)
    data = torch.utils.data.TensorDataset(torch.randn(64, 16), torch.randint(0, 12, (64,)))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    saver = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=folder, filename=filename, save_top_k=-1,
                                                        save_last=True, monitor="val_loss")
    logger = lightning.pytorch.loggers.CSVLogger(logs) if logs else False
    trainer = lightning.Trainer(max_epochs=3, callbacks=[saver], logger=logger, enable_progress_bar=False,
                                enable_model_summary=False, accelerator="cpu", log_every_n_steps=2,
                                num_sanity_val_steps=0)
    module = Module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, loader, loader)
    return {key: value.clone() for key, value in module.model.state_dict().items()}


def test_a_lightning_run_is_imported_by_step_without_the_module_prefix(tmp_path):
    final = lightning_checkpoints(tmp_path / "ckpts")
    assert (tmp_path / "ckpts" / "last.ckpt").exists()
    result = spectrascope("import", tmp_path / "ckpts", "--run-id", "lit", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "last.ckpt skipped: the same weights as epoch=2-step=12.ckpt (step 12)" in result.stderr
    assert "numbered by training step" in result.stderr
    assert "run lit: analysed 3 step(s)" in result.stdout
    paths = run_paths(tmp_path / "data", "lit")
    record = read_run(paths)
    assert (record.unit, record.config["layout"]) == ("step", "lightning")
    assert checkpoint_epochs(paths) == [4, 8, 12]  # Lightning's global steps, from epoch=E-step=S.ckpt
    imported = load(paths.checkpoint(12))
    assert sorted(imported) == sorted(final)  # "model.fc1.weight" is "fc1.weight", as the model names it
    assert all(torch.equal(imported[key], value) for key, value in final.items())
    assert {row["layer"] for row in read_csv(paths.layers_csv)} == {"fc1", "fc2"}


def test_lightning_steps_come_from_each_checkpoint_whatever_its_file_name(tmp_path):
    """A custom pattern without the step ("epoch=0-val_loss=2.19.ckpt": its last number is 19), and a second
    run into the same folder, whose files Lightning names -v1: each file says its own global_step."""
    lightning_checkpoints(tmp_path / "ckpts", filename="{epoch}-{val_loss:.2f}")
    for path in (tmp_path / "ckpts").iterdir():  # only a re-run's files, as if the first run's were removed
        path.rename(path.with_name(f"{path.stem}-v1.ckpt"))
    result = spectrascope("import", tmp_path / "ckpts", "--run-id", "lit", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    paths = run_paths(tmp_path / "data", "lit")
    assert checkpoint_epochs(paths) == [4, 8, 12]
    assert "last-v1.ckpt skipped: the same weights as epoch=2-val_loss=" in result.stderr


def test_two_runs_saved_into_one_folder_clash_in_one_line_unless_their_weights_are_equal(tmp_path):
    lightning_checkpoints(tmp_path / "same")
    lightning_checkpoints(tmp_path / "same")  # the same seed again: Lightning adds -v1 files of equal weights
    assert (tmp_path / "same" / "epoch=0-step=4-v1.ckpt").exists()
    result = spectrascope("import", tmp_path / "same", "--run-id", "same", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "epoch=0-step=4-v1.ckpt skipped: the same weights as epoch=0-step=4.ckpt (step 4)" in result.stderr
    assert checkpoint_epochs(run_paths(tmp_path / "data", "same")) == [4, 8, 12]

    lightning_checkpoints(tmp_path / "clash")
    lightning_checkpoints(tmp_path / "clash", seed=1)
    before = snapshot_tree(tmp_path / "data")
    result = spectrascope("import", tmp_path / "clash", "--run-id", "clash", "--data-dir", tmp_path / "data")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "spectrascope: error: epoch=0-step=4.ckpt and epoch=0-step=4-v1.ckpt both hold step 4 with different "
        "weights (two runs saved into one folder?): move one run's checkpoints to a folder of their own and "
        "import each")
    assert snapshot_tree(tmp_path / "data") == before


def test_a_ckpt_without_a_global_step_is_numbered_by_its_name(tmp_path):
    (tmp_path / "ckpts").mkdir()
    for step in (10, 20):
        torch.save({"state_dict": {"model.fc.weight": torch.randn(12, 12)}}, tmp_path / "ckpts" / f"s{step}.ckpt")
    result = spectrascope("import", tmp_path / "ckpts", "--run-id", "own", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert checkpoint_epochs(run_paths(tmp_path / "data", "own")) == [10, 20]
    assert "training curves: none found (no CSVLogger metrics.csv" in result.stderr


def test_a_lightning_csv_logger_s_metrics_become_the_run_s_training_curves(tmp_path):
    """Lightning's own layout (lightning_logs/version_N/checkpoints beside version_N/metrics.csv); each curve
    from one name (train_loss_epoch, not its _step values in between), at the step its checkpoint has."""
    version = tmp_path / "lightning_logs" / "version_0"
    lightning_checkpoints(version / "checkpoints", logs=tmp_path)
    logged = [row for row in read_csv(version / "metrics.csv")]
    result = spectrascope("import", version / "checkpoints", "--run-id", "lit", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert (f"training curves: 3 step(s) of test_loss, train_loss from {version / 'metrics.csv'} and the "
            "ModelCheckpoint monitor (val_loss) of 3 checkpoint(s)") in result.stderr
    metrics = metrics_frame(run_paths(tmp_path / "data", "lit")).set_index("epoch")
    assert list(metrics.index) == [4, 8, 12] == checkpoint_epochs(run_paths(tmp_path / "data", "lit"))
    epoch_ends = [float(row["train_loss_epoch"]) for row in logged if row["train_loss_epoch"]]
    validations = [float(row["val_loss"]) for row in logged if row["val_loss"]]
    assert list(metrics["train_loss"]) == pytest.approx(epoch_ends)
    assert list(metrics["test_loss"]) == pytest.approx(validations)


def test_without_a_logger_the_checkpoints_monitor_values_are_the_curve(tmp_path):
    lightning_checkpoints(tmp_path / "ckpts")
    result = spectrascope("import", tmp_path / "ckpts", "--run-id", "lit", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    metrics = metrics_frame(run_paths(tmp_path / "data", "lit")).set_index("epoch")
    scores = [torch.load(tmp_path / "ckpts" / f"epoch={epoch}-step={step}.ckpt", weights_only=True)["callbacks"]
              for epoch, step in ((0, 4), (1, 8), (2, 12))]
    assert list(metrics["test_loss"]) == pytest.approx(
        [float(next(iter(saved.values()))["current_score"]) for saved in scores])
    assert metrics["train_loss"].isna().all()


def gpt2_like():
    import transformers  # the test extra: as the Trainer's save_pretrained writes checkpoints
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=32)
    return transformers.GPT2LMHeadModel(config)


def save_bin_shards(state_dict: dict, folder, shards: int = 3) -> None:
    """pytorch_model-0000N-of-0000M.bin and pytorch_model.bin.index.json, as transformers before safetensors
    wrote sharded checkpoints (its documented layout)."""
    folder.mkdir(parents=True)
    keys, weight_map = list(state_dict), {}
    for index, part in enumerate(np.array_split(np.arange(len(keys)), shards), start=1):
        name = f"pytorch_model-{index:05d}-of-{shards:05d}.bin"
        torch.save({keys[i]: state_dict[keys[i]] for i in part}, folder / name)
        weight_map.update({keys[i]: name for i in part})
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def trainer_output(root) -> dict[int, dict]:
    """A Trainer output folder whose checkpoints are saved four ways; the weights each holds, by step."""
    model, saved = gpt2_like(), {}
    for step, how in ((500, "safetensors"), (1000, "safetensors shards"), (1500, "bin"), (2000, "bin shards")):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(1.1)
        folder = root / f"checkpoint-{step}"
        if how == "safetensors":
            model.save_pretrained(folder)
        elif how == "safetensors shards":
            model.save_pretrained(folder, max_shard_size="20KB")
            assert (folder / "model.safetensors.index.json").exists()
        elif how == "bin":
            folder.mkdir()
            torch.save(model.state_dict(), folder / "pytorch_model.bin")
        else:
            save_bin_shards(model.state_dict(), folder)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (folder / "optimizer.pt").write_bytes(b"not read")
        saved[step] = {key: value.clone() for key, value in model.state_dict().items()}
    return saved


def test_a_hugging_face_trainer_folder_is_imported_by_step_from_every_way_it_saves(tmp_path):
    saved = trainer_output(tmp_path / "out")
    result = spectrascope("import", tmp_path / "out", "--run-id", "hf", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "run hf: analysed 4 step(s)" in result.stdout
    paths = run_paths(tmp_path / "data", "hf")
    assert (read_run(paths).unit, read_run(paths).config["layout"]) == ("step", "hugging-face")
    assert checkpoint_epochs(paths) == [500, 1000, 1500, 2000]
    for step, weights in saved.items():
        imported = load(paths.checkpoint(step))
        for key, value in imported.items():  # (safetensors leaves out the head tied to the embedding)
            assert torch.equal(value, weights[key]), (step, key)
        assert set(weights) - set(imported) <= {"lm_head.weight"}, step
    layers = {row["layer"] for row in read_csv(paths.layers_csv)}
    assert {"transformer.h.0.attn.c_attn", "transformer.h.1.mlp.c_proj", "transformer.wte"} <= layers


def trainer_run(output) -> "transformers.Trainer":
    """A real Trainer on a tiny GPT-2: 8 steps, logging every 2, evaluating and saving every 4, then
    save_model() and save_state() into the output folder's root, as a finished training script does."""
    import transformers
    model = gpt2_like()
    tokens = torch.randint(0, 100, (32, 16), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": ids, "labels": ids} for ids in tokens]
    args = transformers.TrainingArguments(
        output_dir=str(output), max_steps=8, per_device_train_batch_size=8, learning_rate=1e-3, logging_steps=2,
        save_steps=4, eval_strategy="steps", eval_steps=4, report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, eval_dataset=data[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    trainer.save_model()
    trainer.save_state()
    return trainer


def test_a_trainer_run_is_imported_whole_with_its_log_history_as_training_curves(tmp_path):
    trainer = trainer_run(tmp_path / "out")
    result = spectrascope("import", tmp_path / "out", "--run-id", "hf", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "model.safetensors skipped: the same weights as checkpoint-8/model.safetensors (step 8)" in result.stderr
    assert "training curves: 4 step(s) of lr, test_loss, train_loss from" in result.stderr
    paths = run_paths(tmp_path / "data", "hf")
    assert checkpoint_epochs(paths) == [4, 8]
    metrics = metrics_frame(paths).set_index("epoch")
    history = [entry for entry in trainer.state.log_history if "train_runtime" not in entry]
    for ours, theirs in (("train_loss", "loss"), ("test_loss", "eval_loss"), ("lr", "learning_rate")):
        logged = {entry["step"]: entry[theirs] for entry in history if theirs in entry}
        assert metrics[ours].dropna().to_dict() == pytest.approx(logged), ours
    assert list(metrics.index) == [2, 4, 6, 8]


def test_one_trainer_checkpoint_folder_is_imported_at_its_step(tmp_path):
    trainer_run(tmp_path / "out")
    result = spectrascope("import", tmp_path / "out" / "checkpoint-4", "--run-id", "one",
                          "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    paths = run_paths(tmp_path / "data", "one")
    assert checkpoint_epochs(paths) == [4]
    assert list(metrics_frame(paths)["epoch"]) == [2, 4]  # the log as it was when checkpoint-4 was saved


def test_a_final_model_whose_step_is_unknown_is_skipped_saying_why(tmp_path):
    trainer_run(tmp_path / "out")
    (tmp_path / "out" / "trainer_state.json").unlink()  # save_model() without save_state()
    result = spectrascope("import", tmp_path / "out", "--run-id", "hf", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert ("model.safetensors skipped: its step is unknown (no trainer_state.json beside it; trainer.save_state() "
            "writes one)") in result.stderr
    assert checkpoint_epochs(run_paths(tmp_path / "data", "hf")) == [4, 8]


def test_a_lone_save_pretrained_folder_is_one_checkpoint_at_step_0(tmp_path):
    gpt2_like().save_pretrained(tmp_path / "model")
    result = spectrascope("import", tmp_path / "model", "--run-id", "pre", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "model.safetensors: no trainer_state.json says its step; imported as step 0" in result.stderr
    assert checkpoint_epochs(run_paths(tmp_path / "data", "pre")) == [0]


@pytest.mark.parametrize("damage, message", [
    ("missing shard", "lists shards that are not there: pytorch_model-00002-of-00003.bin"),
    ("no weights", "checkpoint-1000 holds no model weights"),
    ("mixed", "mixes Lightning .ckpt files with other checkpoints"),
])
def test_a_broken_layout_is_one_line_and_writes_nothing(tmp_path, damage, message):
    folder = tmp_path / "out"
    weights = {"fc.weight": torch.ones(12, 12)}
    if damage == "missing shard":
        save_bin_shards({**weights, "fc2.weight": torch.ones(12, 12), "fc3.weight": torch.ones(12, 12)},
                        folder / "checkpoint-500")
        (folder / "checkpoint-500" / "pytorch_model-00002-of-00003.bin").unlink()
    elif damage == "no weights":
        (folder / "checkpoint-1000").mkdir(parents=True)
        (folder / "checkpoint-1000" / "trainer_state.json").write_text("{}")
    else:
        folder.mkdir()
        torch.save({"state_dict": weights}, folder / "epoch=0-step=4.ckpt")
        torch.save(weights, folder / "epoch_1.pt")
    before = snapshot_tree(tmp_path)
    result = spectrascope("import", folder, "--run-id", "bad", "--data-dir", tmp_path / "data")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot_tree(tmp_path) == before


def tiny_bert():
    import transformers
    torch.manual_seed(0)
    return transformers.BertForMaskedLM(transformers.BertConfig(
        num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64, vocab_size=100,
        max_position_embeddings=32))


@pytest.mark.parametrize("make, tied", [(gpt2_like, ("lm_head", "transformer.wte")),
                                        (tiny_bert, ("cls.predictions.decoder", "bert.embeddings.word_embeddings"))])
def test_a_tied_model_s_layer_table_is_weightwatcher_s_row_for_row_from_safetensors_and_torch_save(
        tmp_path, make, tied):
    """transformers leaves the tied head out of its safetensors; weightwatcher, walking the model's modules,
    reports it. The import reads the tie, the module types (embedding, conv1d) and their order from
    config.json; a torch.save of the model's own state_dict (which keeps the tie) beside it agrees."""
    import weightwatcher
    model = make()
    model.save_pretrained(tmp_path / "hf" / "checkpoint-1")
    (tmp_path / "pt").mkdir()
    torch.save(model.state_dict(), tmp_path / "pt" / "epoch_1.pt")
    (tmp_path / "pt" / "config.json").write_bytes((tmp_path / "hf" / "checkpoint-1" / "config.json").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = type(model).from_pretrained(tmp_path / "hf" / "checkpoint-1")
        expected = weightwatcher.WeightWatcher(model=loaded).analyze()
    tables = {}
    for layout in ("hf", "pt"):
        result = spectrascope("import", tmp_path / layout, "--run-id", layout, "--data-dir", tmp_path / "data")
        assert result.returncode == 0, result.stderr
        assert f"{tied[0]} is tied to {tied[1]}" in result.stderr
        tables[layout] = read_csv(run_paths(tmp_path / "data", layout).layers_csv)
    for rows in tables.values():
        assert [(row["layer"], row["layer_type"], int(row["N"]), int(row["M"])) for row in rows] == [
            (record.longname, record.layer_type, record.N, record.M) for record in expected.itertuples()]
        assert [float(row["alpha"]) for row in rows] == pytest.approx(list(expected["alpha"]), rel=1e-6)
        assert {row["layer"]: row["tied_to"] for row in rows if row["tied_to"]} == dict([tied])
    assert np.mean([float(row["alpha"]) for row in tables["hf"]]) == pytest.approx(expected["alpha"].mean(), rel=1e-9)
