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
from spectrascope.runs import checkpoint_epochs, read_run, run_paths
from spectrascope.runs.files import read_csv


def lightning_checkpoints(folder) -> dict:
    """Three epochs of a real Lightning Trainer (4 steps each) saving every epoch and last.ckpt; the
    final weights of the LightningModule's `model`."""
    import lightning  # the test extra: as users' Lightning writes its checkpoints

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = TinyMLP()

        def training_step(self, batch, index):
            x, y = batch
            return nn.functional.cross_entropy(self.model(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 16), torch.randint(0, 12, (64,)))
    saver = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=folder, save_top_k=-1, save_last=True)
    trainer = lightning.Trainer(max_epochs=3, callbacks=[saver], logger=False, enable_progress_bar=False,
                                enable_model_summary=False, accelerator="cpu")
    module = Module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=16))
    return {key: value.clone() for key, value in module.model.state_dict().items()}


def test_a_lightning_run_is_imported_by_step_without_the_module_prefix(tmp_path):
    final = lightning_checkpoints(tmp_path / "ckpts")
    assert (tmp_path / "ckpts" / "last.ckpt").exists()
    result = spectrascope("import", tmp_path / "ckpts", "--run-id", "lit", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "last.ckpt skipped" in result.stderr and "numbered by training step" in result.stderr
    assert "run lit: analysed 3 step(s)" in result.stdout
    paths = run_paths(tmp_path / "data", "lit")
    record = read_run(paths)
    assert (record.unit, record.config["layout"]) == ("step", "lightning")
    assert checkpoint_epochs(paths) == [4, 8, 12]  # Lightning's global steps, from epoch=E-step=S.ckpt
    imported = load(paths.checkpoint(12))
    assert sorted(imported) == sorted(final)  # "model.fc1.weight" is "fc1.weight", as the model names it
    assert all(torch.equal(imported[key], value) for key, value in final.items())
    assert {row["layer"] for row in read_csv(paths.layers_csv)} == {"fc1", "fc2"}


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
