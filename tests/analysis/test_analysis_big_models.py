"""Models bigger than memory (issue: 7B-class checkpoints): a sharded bfloat16 checkpoint as
`save_pretrained` writes it is imported and analysed one tensor at a time. Memory is measured with
tracemalloc (NumPy reports its buffers to it; pages mapped from a file are not allocations): the peak must
not grow with the number of layers, and stays far below the model's size. The numbers equal those of the
same weights loaded whole."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from analysis.backends import analyze_state_dict
from analysis.importer import import_checkpoints
from analysis.runner import analyze_run
from spectrascope.runs import layers_frame, run_paths, weight_stats_frame

pytestmark = pytest.mark.slow

HIDDEN, INTERMEDIATE, VOCAB = 256, 704, 512


def save_llama(folder, blocks: int, seed: int = 0) -> None:
    """A small Llama (real module names and kinds) in bfloat16, with heavy-tailed weights so the fits are
    not trivial, saved by transformers in shards of at most 1 MB with their index."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=blocks,
                         num_attention_heads=4, num_key_value_heads=4, vocab_size=VOCAB, tie_word_embeddings=False)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 2:
                parameter.copy_(torch.distributions.StudentT(3.0).sample(parameter.shape) * 0.02)
    model.save_pretrained(folder, max_shard_size="1MB", safe_serialization=True)


def imported_and_analysed(tmp_path, blocks: int) -> tuple[object, int]:
    """The run of a `blocks`-block model imported and analysed in this process; and the analysis' peak
    of allocated bytes."""
    source = tmp_path / f"llama-{blocks}" / "checkpoint-10"
    save_llama(source, blocks)
    assert (source / "model.safetensors.index.json").exists() and len(list(source.glob("*.safetensors"))) > blocks
    data_dir = tmp_path / "data"
    paths = import_checkpoints(source.parent, data_dir, f"llama-{blocks}")
    tracemalloc.start()
    try:
        report = analyze_run(data_dir, paths.run_id, workers=1, progress=False, randomize_every=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not report.errors and report.analysed == [10]
    return paths, peak


def model_bytes(paths) -> int:
    """The analysed matrices' size as read (float32)."""
    layers = layers_frame(paths)
    return 4 * sum(int(n) * int(m) for n, m in zip(layers["N"], layers["M"]))


def test_a_sharded_bf16_checkpoint_is_analysed_in_memory_that_does_not_grow_with_its_layers(tmp_path):
    small, small_peak = imported_and_analysed(tmp_path, blocks=2)
    big, big_peak = imported_and_analysed(tmp_path, blocks=12)
    assert (big.checkpoints / "epoch_0010.safetensors").exists()  # kept as safetensors: read a tensor at a time
    assert len(layers_frame(big)) == 12 * 7 + 2  # q, k, v, o, gate, up, down per block; the embedding and the head
    small_bytes, big_bytes = model_bytes(small), model_bytes(big)
    # six times the layers: the peak grows by the rows and ESDs kept (kilobytes a layer), not by the weights
    # (read whole, it grew by as much as the model: 9.6 MB to 42 MB)
    assert big_peak - small_peak < 0.05 * (big_bytes - small_bytes), (small_peak, big_peak)
    assert big_peak < big_bytes / 4, (big_peak, big_bytes)


def test_the_lazily_read_checkpoint_gives_the_numbers_of_the_weights_loaded_whole(tmp_path):
    source = tmp_path / "llama" / "checkpoint-10"
    save_llama(source, blocks=2, seed=1)
    paths = import_checkpoints(source.parent, tmp_path / "data", "llama")
    analyze_run(tmp_path / "data", "llama", workers=1, progress=False, randomize_every=0)

    from transformers import LlamaForCausalLM

    loaded = LlamaForCausalLM.from_pretrained(source).state_dict()
    whole = {name: tensor.float().numpy() for name, tensor in loaded.items()}
    rows, _, _ = analyze_state_dict(whole)
    lazy = layers_frame(paths).set_index("layer")
    assert list(lazy.index) == [row["layer"] for row in rows]  # the model's module order, not the shards'
    for row in rows:
        assert lazy.loc[row["layer"], "alpha"] == pytest.approx(row["alpha"], abs=1e-12), row["layer"]
    stats = weight_stats_frame(paths)
    norms = stats[stats["kind"] == "weight"].set_index("layer")["fro_norm"]
    for name, values in whole.items():
        if name.endswith(".weight"):
            assert norms[name.removesuffix(".weight")] == pytest.approx(float(np.linalg.norm(values)), rel=1e-6)


def many_layers(count: int = 40, size: int = 640, seed: int = 0) -> dict:
    """A checkpoint of many square layers with heavy-tailed weights: seconds to analyse, a layer at a time."""
    generator = torch.Generator().manual_seed(seed)
    return {f"blocks.{i}.fc.weight": torch.randn(size, size, generator=generator) ** 3 / 10 for i in range(count)}


def test_a_checkpoint_finished_in_two_goes_gives_what_one_go_gives_randomized_too():
    from analysis.backends import analyze_fast

    state_dict = {key: value.numpy() for key, value in many_layers(6, 96).items()}
    kept = {}
    whole = analyze_fast(state_dict, randomize=True, keep=lambda index, row, evals, shuffled: kept.update(
        {row["layer"]: (row, evals, shuffled)}))
    first_three = dict(list(kept.items())[:3])
    computed = []
    again = analyze_fast(state_dict, randomize=True, finished=first_three,
                         keep=lambda index, row, evals, shuffled: computed.append(row["layer"]))
    assert computed == list(kept)[3:]  # only the layers not finished before
    assert again[0] == whole[0]  # rows, randomized metrics included, as one go gives them
    for name in kept:
        assert np.array_equal(again[2][name], whole[2][name])


def test_an_analysis_killed_inside_a_checkpoint_goes_on_from_its_last_finished_layer(tmp_path):
    import shutil
    import signal
    import subprocess

    from helpers import SPECTRASCOPE, cli_env, spectrascope, wait_for
    from training.recorder import RunRecorder

    data_dir, reference = tmp_path / "data", tmp_path / "reference"
    with RunRecorder(data_dir, "big", total_epochs=0) as run:
        run.log_epoch(0, many_layers())
    shutil.copytree(data_dir, reference)
    paths = run_paths(data_dir, "big")

    def kept() -> list:
        return sorted(paths.partial(0).glob("layer_*.npz"))

    analysis = subprocess.Popen([*SPECTRASCOPE, "analyze", "--run-id", "big", "--data-dir", str(data_dir),
                                 "--workers", "1"], env=cli_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(kept()) >= 5, 240, "five layers of the checkpoint finished", interval=0.05,
                 process=analysis)
    finally:
        analysis.send_signal(signal.SIGKILL)
        analysis.wait(30)
    finished = len(kept())
    assert 5 <= finished < 40 and not paths.layers_csv.exists()  # killed inside the checkpoint

    resumed = spectrascope("analyze", "--run-id", "big", "--data-dir", data_dir, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    said = next(line for line in resumed.stderr.splitlines() if "going on after the" in line)
    assert int(said.split("going on after the ")[1].split()[0]) >= finished
    assert not paths.partial(0).exists()  # gone once the epoch's rows were saved
    uninterrupted = spectrascope("analyze", "--run-id", "big", "--data-dir", reference, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert layers_frame(paths).equals(layers_frame(run_paths(reference, "big")))
