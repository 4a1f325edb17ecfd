"""Turn a folder of the user's own checkpoints (analysis.layouts) into an `imported` run, ready for analysis."""
from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path

from analysis.hf_modules import ModuleLayout, module_layout
from analysis.layouts import Found, Source, find_checkpoints
from analysis.training_logs import training_rows
from spectrascope.checkpoints import CheckedCheckpoint, check_checkpoint, load_state_dict, save_checkpoint
from spectrascope.tensorfiles import read_safetensors, write_safetensors
from spectrascope.runs import (
    RunFormatError, RunPaths, atomic_copy, atomic_write, ensure_writable_dir, job_lock, new_run_record, run_paths,
    update_run, write_metrics, write_run,
)


def _check(source: Source) -> list[CheckedCheckpoint]:
    return [check_checkpoint(path) for path in source.files]


def _without_prefix(state_dict: dict, prefix: str) -> dict:
    """Keys without `prefix` where every key has it (a LightningModule's `model.`): the model's own names."""
    if not prefix or not all(key.startswith(prefix) for key in state_dict):
        return state_dict
    return {key[len(prefix):]: value for key, value in state_dict.items()}


def _copy_in(source: Source, checked: list[CheckedCheckpoint], paths: RunPaths, number: int,
             modules: ModuleLayout | None) -> None:
    """The run's own copy of a checkpoint: its bytes where they already make a run checkpoint; safetensors
    (all shards) merged into one safetensors file a tensor at a time, so a model of any size is never in
    memory; else its tensors (all shards', unwrapped, on the CPU) saved as one in torch.save's zip format.
    Both in the model's order with its tied layers, given `modules`."""
    target = paths.checkpoint(number, suffix=".pt")
    if len(source.files) == 1 and checked[0].as_saved and not source.prefix and modules is None:
        atomic_copy(source.files[0], target)
        return
    if all(path.suffix == ".safetensors" for path in source.files) and not source.prefix:
        tensors = read_safetensors(list(source.files))
        order, tied = modules.order_of(list(tensors)) if modules else (list(tensors), {})
        atomic_write(paths.checkpoint(number, suffix=".safetensors"),
                     lambda handle: write_safetensors(handle, tensors, order, tied))
        return
    state_dict = {}
    for path in source.files:
        state_dict.update(load_state_dict(path))
    state_dict = _without_prefix(state_dict, source.prefix)
    save_checkpoint(target, modules.arranged(state_dict) if modules else state_dict)


def _modules(found: Found) -> tuple[ModuleLayout | None, str]:
    """The model layout the newest checkpoint's config.json describes (Hugging Face layouts only)."""
    configs = [source.model_config for source in found.sources.values() if source.model_config]
    return module_layout(configs[-1]) if configs else (None, "")


def _say_what_is_read(found: Found, checked: dict[int, list[CheckedCheckpoint]], lines: list[str]) -> None:
    for note in found.notes:
        print(note, file=sys.stderr)
    wrappers = {check.key for checks in checked.values() for check in checks} - {None}
    for key in sorted(wrappers):
        print(f"the weights are read from the {key!r} entry of the checkpoints; their other entries (optimizer "
              "state, step, ...) are not imported", file=sys.stderr)
    if found.unit == "step":
        print(f"{found.layout} checkpoints: the run is numbered by training step", file=sys.stderr)
    for line in filter(None, lines):
        print(line, file=sys.stderr)


def import_checkpoints(source: Path, data_dir, run_id: str) -> RunPaths:
    """Check every file first (nothing is written if one is refused), then copy them in as plain state_dicts,
    with the training curves the framework logged beside them."""
    paths = run_paths(data_dir, run_id)
    if paths.root.exists():
        raise RunFormatError(f"run {run_id!r} already exists at {paths.root}: choose another --run-id")
    found = find_checkpoints(Path(source))
    checked = {number: _check(checkpoint) for number, checkpoint in found.sources.items()}
    metrics, curves = training_rows(found)
    modules, model = _modules(found)
    _say_what_is_read(found, checked, [model, curves])
    config = {"source": str(Path(source).resolve()), "layout": found.layout}
    if modules and modules.layer_types:
        config["layer_types"] = modules.layer_types
    last = max(found.sources)
    ensure_writable_dir(data_dir)
    paths.root.mkdir(parents=True)
    try:
        with job_lock(paths):
            write_run(paths, new_run_record(run_id, kind="imported", preset=None, unit=found.unit,
                                            config=config,
                                            total_epochs=last, provenance={"torch": metadata.version("torch")}))
            for number, checkpoint in found.sources.items():
                _copy_in(checkpoint, checked[number], paths, number, modules)
            if metrics:
                write_metrics(paths, metrics)
            update_run(paths, status="completed", progress={"epoch": last, "phase": "done"})
    except BaseException:  # a half-copied run would block its id: it was ours alone, so remove it
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    return paths
