"""Analysis speed: `spectrascope analyze` vs weightwatcher 0.7.7 on the same checkpoints.

Builds a run of full-size ResNet-18 (CIFAR-100 head) checkpoints, or with `--model gpt2-small` of GPT-2
small (12 blocks: attention in/out projections and two MLP matrices each, position embeddings; its 50257 x
768 token embedding and tied head exceed weightwatcher's 50000-row limit and are skipped by both), whose
weights drift a little further from init each epoch (the spectra, not the accuracy, decide the cost).
Then, in one process run:
- spectrascope: the whole `analyze` pipeline with the fast backend (ESD + fit, weight statistics,
  histograms; checkpoints shared between the analysing process and a worker process per other core);
- weightwatcher at its default settings, the way its users run it: `WeightWatcher(model).analyze()`
  on each checkpoint in turn (it computes the ESD and fit only);
and prints seconds per checkpoint for each, their ratio, the largest difference between their alphas, the
floor (the bare eigensolver on the same matrices, one thread, and split over the cores), peak memory, and
how much of the cores other processes took while both were timed (numbers worth recording: a few percent).

    python benchmarks/analysis_speed.py                   # 41 checkpoints: about 2 minutes on 2 cores
    python benchmarks/analysis_speed.py --checkpoints 8   # quicker
    python benchmarks/analysis_speed.py --randomize --checkpoints 2   # weightwatcher needs minutes per checkpoint
    python benchmarks/analysis_speed.py --model gpt2-small --checkpoints 4   # transformer-sized (transformers)
    python benchmarks/analysis_speed.py --model llama-7b-slice --checkpoints 1   # Llama-2-7B's shapes, bf16 shards

`llama-7b-slice` is two blocks of Llama-2-7B at their real shapes (q, k, v, o: 4096 x 4096; gate, up:
11008 x 4096; down: 4096 x 11008) with its 32000 x 4096 embedding and head (within weightwatcher's
50000-row rule), bf16, heavy-tailed, written as shards of at most 1 GB with their index as
`save_pretrained` writes them, and imported: spectrascope reads its checkpoint a tensor at a time. It also
prints the full 224-matrix checkpoint's time extrapolated by matrix cost (32 blocks instead of 2).

Whole checkpoints are shared between the processes, so an odd count leaves one process a checkpoint more
than the other (with 3, two and one): the ratio of a long run is that of an even count.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from analysis.backends import analyze_weightwatcher
from analysis.layers import analysable_layers
from analysis.pool import limited_threads
from analysis.runner import analyze_run
from analysis.spectrum import eigenvalues
from spectrascope.checkpoints import load_arrays
from spectrascope.runs import checkpoint_epochs, layers_frame, run_paths

# torch is imported where it is used: the analysis's worker processes import this script again (spawn), and
# torch at its top would add 1.3 s to each worker's start, which `spectrascope analyze` never pays.


def model_named(name: str):
    if name == "gpt2-small":
        import transformers

        return transformers.GPT2LMHeadModel(transformers.GPT2Config())  # GPT-2 small's shapes
    from training.model import ResNet18

    return ResNet18(100, 3, 64)


MODEL_TITLES = {"resnet18": "ResNet-18 (CIFAR-100 head)", "gpt2-small": "GPT-2 small (124M)",
                "llama-7b-slice": "Llama-2-7B slice (2 of 32 blocks, embedding, head; bf16 shards)"}
LLAMA_7B = dict(hidden=4096, intermediate=11008, vocab=32000, blocks=32)
LLAMA_SLICE_BLOCKS = 2
SHARD_BYTES = 1 << 30


def llama_slice_tensors(seed: int) -> dict:
    """Two Llama-2-7B blocks' matrices (and norms), the embedding and the head, bf16, Student-t entries."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    h, i, v = LLAMA_7B["hidden"], LLAMA_7B["intermediate"], LLAMA_7B["vocab"]
    shapes = {"model.embed_tokens.weight": (v, h)}
    for block in range(LLAMA_SLICE_BLOCKS):
        prefix = f"model.layers.{block}"
        shapes |= {f"{prefix}.self_attn.{name}.weight": (h, h) for name in ("q_proj", "k_proj", "v_proj", "o_proj")}
        shapes |= {f"{prefix}.mlp.gate_proj.weight": (i, h), f"{prefix}.mlp.up_proj.weight": (i, h),
                   f"{prefix}.mlp.down_proj.weight": (h, i), f"{prefix}.input_layernorm.weight": (h,)}
    shapes |= {"model.norm.weight": (h,), "lm_head.weight": (v, h)}
    student = torch.distributions.StudentT(3.0)
    tensors = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            tensors[name] = torch.ones(shape, dtype=torch.bfloat16)
        else:
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
            tensors[name] = (student.sample(shape) * 0.02).to(torch.bfloat16)
    return tensors


def write_shards(folder: Path, tensors: dict) -> None:
    """safetensors shards of at most SHARD_BYTES and model.safetensors.index.json, as save_pretrained writes."""
    import json

    from safetensors.torch import save_file

    shards, current, size = [], {}, 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[name], size = tensor, size + nbytes
    shards.append(current)
    folder.mkdir(parents=True)
    weight_map = {}
    for index, shard in enumerate(shards, 1):
        file = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, folder / file, metadata={"format": "pt"})
        weight_map |= {name: file for name in shard}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def build_llama_slice(data_dir: str, checkpoints: int) -> None:
    from analysis.importer import import_checkpoints

    source = Path(data_dir) / "llama-source"
    for step in range(checkpoints):
        write_shards(source / f"checkpoint-{(step + 1) * 100}", llama_slice_tensors(step))
    import_checkpoints(source, data_dir, "bench")


def whole_llama_cost(shapes) -> float:
    """How many times the slice's work a whole Llama-2-7B checkpoint is: each matrix costs about N·M² + M³
    (its Gram matrix, then the eigensolver), the blocks' matrices 32 / 2 times over, the embedding and head once."""
    cost = {row.layer: float(row.N) * row.M ** 2 + float(row.M) ** 3 for row in shapes.itertuples()}
    blocks = sum(value for layer, value in cost.items() if layer.startswith("model.layers."))
    return (sum(cost.values()) - blocks + blocks * LLAMA_7B["blocks"] / LLAMA_SLICE_BLOCKS) / sum(cost.values())


def build_run(data_dir: str, checkpoints: int, model_name: str) -> None:
    import torch

    from training.recorder import RunRecorder

    if model_name == "llama-7b-slice":
        build_llama_slice(data_dir, checkpoints)
        return

    torch.manual_seed(0)
    model = model_named(model_name)
    with RunRecorder(data_dir, "bench", config={"benchmark": True}, total_epochs=checkpoints - 1) as run:
        for epoch in range(checkpoints):
            with torch.no_grad():
                for parameter in model.parameters():
                    if parameter.ndim > 1:  # a heavy-tailed drift, growing with training
                        drift = torch.distributions.StudentT(3.0).sample(parameter.shape)
                        parameter.add_(0.02 * parameter.std() * drift)
            run.log_epoch(epoch, model)


def eigensolver_floor(state_dict: dict, device: str) -> float:
    """Seconds for the eigenvalues alone (Gram + eigensolver, as the fast backend computes them) on one
    thread: no fit, no I/O, no float64 copies. Perfectly parallel work over the cores could at best divide it
    by their number."""
    seconds = 0.0
    with limited_threads(1):
        for layer in analysable_layers(state_dict):
            matrices = layer.float64()
            started = time.perf_counter()
            eigenvalues(matrices, device)
            seconds += time.perf_counter() - started
    return seconds


def time_spectrascope(data_dir: str, device: str, randomize: bool, workers: int | None) -> float:
    started = time.perf_counter()
    report = analyze_run(data_dir, "bench", device=device, randomize=randomize, workers=workers, progress=False)
    assert not report.errors, report.errors
    return time.perf_counter() - started


def time_weightwatcher(data_dir: str, randomize: bool) -> tuple[float, list[dict]]:
    """Seconds, and weightwatcher's rows (with their epoch)."""
    paths = run_paths(data_dir, "bench")
    rows = []
    started = time.perf_counter()
    for epoch in checkpoint_epochs(paths):
        rows += [{**row, "epoch": epoch} for row in analyze_weightwatcher(load_arrays(paths.checkpoint(epoch)),
                                                                           randomize)[0]]
    return time.perf_counter() - started, rows


def cpu_clock() -> tuple[float, float | None, float]:
    """(seconds, CPU seconds every process has used (Linux's /proc/stat; None elsewhere), CPU seconds of this
    process and its ended children)."""
    try:  # the first line: cpu user nice system idle iowait irq softirq steal ...
        ticks = [int(field) for field in Path("/proc/stat").read_text().split()[1:9]]
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        busy = None
    own = os.times()
    return time.perf_counter(), busy, own.user + own.system + own.children_user + own.children_system


def others_share(start: tuple, end: tuple) -> str:
    """How much of the cores other processes took between two cpu_clock()s."""
    if start[1] is None:
        return "unknown (no /proc/stat)"
    share = ((end[1] - start[1]) - (end[2] - start[2])) / ((end[0] - start[0]) * (os.cpu_count() or 1))
    return f"{max(share, 0):.0%} of the cores"


def largest_alpha_difference(data_dir: str, reference: list[dict]) -> float:
    """max |alpha ours - alpha weightwatcher| over every (epoch, layer) both fitted."""
    ours = {(row["epoch"], row["layer"]): row["alpha"] for row in layers_frame(run_paths(data_dir, "bench"))
            .to_dict("records")}
    theirs = {(row["epoch"], row["layer"]): row["alpha"] for row in reference}
    assert ours.keys() == theirs.keys(), "the two analyses chose different layers"
    return max(abs(ours[key] - theirs[key]) for key in ours if ours[key] > 0 and theirs[key] > 0)


def main() -> None:
    import torch  # see the note on imports above

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=41)
    parser.add_argument("--model", choices=sorted(MODEL_TITLES), default="resnet18")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--randomize", action="store_true", help="both sides also compute the randomized-ESD metrics")
    parser.add_argument("--workers", type=int, help="spectrascope processes analysing at once, the benchmark's "
                                                    "own included (default: the pipeline's choice)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        build_run(data_dir, args.checkpoints, args.model)
        timing_started = cpu_clock()
        ours = time_spectrascope(data_dir, args.device, args.randomize, args.workers) / args.checkpoints
        seconds, rows = time_weightwatcher(data_dir, args.randomize)
        contention = others_share(timing_started, cpu_clock())
        reference = seconds / args.checkpoints
        difference = largest_alpha_difference(data_dir, rows)
        paths = run_paths(data_dir, "bench")
        floor = eigensolver_floor(load_arrays(paths.checkpoint(checkpoint_epochs(paths)[0])), args.device)
        shapes = layers_frame(paths).drop_duplicates("layer")[["layer", "N", "M"]]
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"{MODEL_TITLES[args.model]}, {args.checkpoints} checkpoints, device {args.device}, "
          f"{'with' if args.randomize else 'without'} --randomize, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"spectrascope analyze (fast):  {ours:.3f} s/checkpoint")
    print(f"weightwatcher analyze():      {reference:.3f} s/checkpoint")
    print(f"ratio:                        {reference / ours:.1f}x")
    print(f"largest alpha difference:     {difference:.1e}")
    cores = os.cpu_count() or 1
    print(f"floor (bare Gram + eigensolver, one thread): {floor:.3f} s/checkpoint"
          + (f", {floor / cores:.3f} split over {cores} cores" if args.device == "cpu" else ""))
    print(f"peak memory (largest process): {peak / 1024:.0f} MiB")
    if args.model == "llama-7b-slice":
        print(f"a whole Llama-2-7B checkpoint (224 block matrices, embedding, head), extrapolated: "
              f"spectrascope {ours * whole_llama_cost(shapes):.0f} s, weightwatcher "
              f"{reference * whole_llama_cost(shapes):.0f} s")
    print(f"other processes while timed: {contention}")


if __name__ == "__main__":
    main()
