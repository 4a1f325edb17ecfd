"""Transformer-sized analysed runs for benchmarks/dashboard_latency.py: GPT-2-small's weight matrices, 200
checkpoints numbered by step, each run's analysis written as `spectrascope analyze` writes it.

Analysing 200 real 500 MB checkpoints would take this machine hours and 100 GB of disk, and the dashboard reads
only what the analysis wrote (layers.csv, esd/*.npz, weight_stats.csv, histograms.npz, metrics.csv). So the
spectra are synthesised at the real sizes and fitted for real: each matrix's eigenvalues are those of a random
matrix of its aspect ratio (Marchenko-Pastur bulk, 768 of them) with a heavy tail that grows over training, and
`analysis.powerlaw.fit_power_law` + `analysis.metrics.layer_row` make its layers.csv row, as the analysis does.
Histograms (100 bins per tensor, weights and biases) and statistics rows are written for every tensor."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from analysis.metrics import layer_row
from analysis.options import DEFAULT_BINS
from analysis.powerlaw import fit_power_law
from spectrascope.runs import (
    RunFormatError, new_run_record, read_run, run_paths, save_layer_rows, save_weight_stats, update_run, write_esd,
    write_histograms, write_metrics, write_run,
)

MARKER = "benchmarks/transformer_runs.py v1"
HIDDEN, BLOCKS, VOCABULARY, POSITIONS = 768, 12, 50257, 1024
STEP_EVERY = 500


def matrices() -> list[tuple[str, tuple[int, int]]]:
    """(name, (out, in)) of every weight matrix, in the model's order: 12 blocks of q, k, v, out projections
    and the two MLP matrices, the embeddings and the head: 75 in all."""
    shapes = [("transformer.wte", (VOCABULARY, HIDDEN)), ("transformer.wpe", (POSITIONS, HIDDEN))]
    for block in range(BLOCKS):
        prefix = f"transformer.h.{block}"
        shapes += [(f"{prefix}.attn.{name}", (HIDDEN, HIDDEN)) for name in ("q_proj", "k_proj", "v_proj", "out_proj")]
        shapes += [(f"{prefix}.mlp.fc", (4 * HIDDEN, HIDDEN)), (f"{prefix}.mlp.proj", (HIDDEN, 4 * HIDDEN))]
    return shapes + [("lm_head", (VOCABULARY, HIDDEN))]


def vectors() -> list[tuple[str, str, int]]:
    """(layer, kind, size) of the biases and LayerNorm parameters that get histograms beside the matrices."""
    found = [(f"transformer.h.{block}.{part}", kind, HIDDEN) for block in range(BLOCKS)
             for part in ("ln_1", "ln_2") for kind in ("weight", "bias")]
    found += [(f"transformer.h.{block}.attn.out_proj", "bias", HIDDEN) for block in range(BLOCKS)]
    return found + [("transformer.ln_f", "weight", HIDDEN), ("transformer.ln_f", "bias", HIDDEN)]


def marchenko_pastur(ratio: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` eigenvalues of W^T W / N for a random N x M matrix with N / M = ratio >= 1, by sampling a
    smaller matrix of the same ratio (the bulk's shape depends on the ratio only)."""
    rows = int(min(ratio, 8) * count)
    sample = rng.standard_normal((rows, count)) / math.sqrt(rows)
    return np.sort(np.linalg.eigvalsh(sample.T @ sample))


def spectrum(bulk: np.ndarray, progress: float, rng: np.random.Generator) -> np.ndarray:
    """The bulk with its largest eigenvalues pulled into a power-law tail that grows with training progress
    (alpha falls from ~7 towards ~2.5 as in trained transformers)."""
    tail = max(8, int(len(bulk) * (0.02 + 0.1 * progress)))
    alpha = 7.0 - 4.5 * progress + rng.normal(0, 0.15)
    edge = bulk[-tail]
    pareto = edge * (1 - rng.random(tail)) ** (-1 / (alpha - 1))
    return np.sort(np.concatenate([bulk[:-tail] * (1 + 0.3 * progress), np.sort(pareto)]))


def histogram_rows(layer: str, kind: str, values: np.ndarray, edges: np.ndarray, step: int) -> tuple[np.ndarray, dict]:
    counts, _ = np.histogram(values, bins=edges)
    density = counts / (values.size * np.diff(edges))
    row = {"epoch": step, "layer": layer, "kind": kind, "count": values.size, "mean": float(values.mean()),
           "std": float(values.std()), "min": float(values.min()), "max": float(values.max()),
           "fro_norm": float(np.linalg.norm(values)), "nan_count": 0, "inf_count": 0}
    return density, row


def build(data_dir: Path, run_id: str, checkpoints: int, seed: int) -> None:
    """One analysed run of `checkpoints` steps (0, 500, ...); seeds give runs that differ like reruns."""
    rng = np.random.default_rng(seed)
    steps = [index * STEP_EVERY for index in range(checkpoints)]
    paths = run_paths(data_dir, run_id)
    record = new_run_record(run_id, kind="imported", preset=None, unit="step", total_epochs=steps[-1],
                            config={"benchmark": MARKER, "model": "gpt2-small", "layout": "huggingface", "seed": seed,
                                    "checkpoints": checkpoints},
                            provenance={"note": "synthetic analysis outputs at GPT-2-small sizes"})
    paths.root.mkdir(parents=True, exist_ok=True)
    write_run(paths, record)
    shapes = matrices()
    bulks = {ratio: marchenko_pastur(ratio, HIDDEN, rng) for ratio in {max(shape) / min(shape) for _, shape in shapes}}
    tensors = [(name, "weight", out * inp) for name, (out, inp) in shapes] + vectors()
    edges = {(layer, kind): np.linspace(-0.6, 0.6, DEFAULT_BINS + 1) for layer, kind, _ in tensors}
    densities = {key: np.zeros((checkpoints, DEFAULT_BINS)) for key in edges}
    started, metrics, rows, stats = time.perf_counter(), [], [], []
    for index, step in enumerate(steps):
        progress = index / max(checkpoints - 1, 1)
        eigenvalues = {}
        for name, (out, inp) in shapes:
            values = spectrum(bulks[max(out, inp) / min(out, inp)], progress, rng)
            eigenvalues[name] = values
            rows.append({"epoch": step, **layer_row(name, "linear", max(out, inp), min(out, inp), values,
                                                    fit_power_law(values))})
        for layer, kind, size in tensors:  # a 4096-value sample of each tensor: its histogram's shape
            scale = 0.02 * (1 + progress) if kind == "weight" else 0.01
            values = rng.standard_t(4 + 20 * (1 - progress), 4096) * scale
            densities[(layer, kind)][index], row = histogram_rows(layer, kind, values, edges[(layer, kind)], step)
            stats.append({**row, "count": size})
        write_esd(paths, step, eigenvalues)
        metrics.append({"epoch": step, "train_loss": 3.3 - 1.0 * progress + rng.normal(0, 0.03),
                        "test_loss": 3.4 - 0.9 * progress + rng.normal(0, 0.02), "seconds": 60.0})
        if index % 50 == 0:
            print(f"  {run_id}: step {step} ({time.perf_counter() - started:.0f} s)", flush=True)
    save_layer_rows(paths, set(steps), rows)
    save_weight_stats(paths, set(steps), stats)
    write_histograms(paths, steps, edges, densities)
    write_metrics(paths, metrics)
    update_run(paths, status="completed", progress={"epoch": steps[-1], "phase": "done"},
               analysis={"status": "completed", "epochs_done": checkpoints, "epochs_total": checkpoints})


def is_built(data_dir: Path, run_id: str, checkpoints: int) -> bool:
    paths = run_paths(data_dir, run_id)
    try:
        record = read_run(paths)
    except (OSError, RunFormatError):  # absent or half-written: build it again
        return False
    return (record.config.get("benchmark") == MARKER and record.config.get("checkpoints") == checkpoints
            and record.status == "completed" and record.analysis_state.status == "completed")
