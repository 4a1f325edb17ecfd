"""Record a training run in the spectrascope run format, from our trainer or from any training loop.

    from spectrascope import RunRecorder

    with RunRecorder("data", "my-run", config={"lr": 0.1}, total_epochs=10) as run:
        run.log_epoch(0, model, test_loss=loss, test_acc=acc)          # the untrained model
        for epoch in range(1, 11):
            ...                                                       # your training
            run.log_epoch(epoch, model, train_loss=..., test_acc=..., lr=...)

Checkpoints are copied off the model at once and written by a background thread, so training does not
wait for the disk; every file is written atomically and in order (checkpoint, metrics, training state,
run.json), so a kill at any moment leaves the last complete epoch intact. With `on_event=callback` each
checkpoint is also analysed as it lands and the layer-health events it raises reach the callback in this
loop (training.health_follow): raise from it to stop the run.
"""
from __future__ import annotations

import math
import platform
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from spectrascope.checkpoints import CheckpointError, load_plain, save_checkpoint
from spectrascope.errors import UserError
from spectrascope.runs import (
    METRICS_COLUMNS, RunFormatError, is_reserved, job_lock, new_run_record, read_metrics, read_run,
    remove_checkpoints_after, run_paths, update_run, write_metrics, write_run,
)
from training.health_follow import EventFollower, OnEvent

METRIC_NAMES = frozenset(METRICS_COLUMNS) - {"epoch"}


class TrainingDiverged(UserError):
    """The loss or the weights went NaN/Inf: nothing after that epoch can be learned, so the run stops."""

    def __init__(self, epoch: int, message: str):
        super().__init__(message)
        self.epoch = epoch


def _non_finite(metrics: dict, weights: dict) -> list[str]:
    """What of an epoch is NaN/Inf: its losses by name, and how many of the model's tensors."""
    found = [name for name in ("train_loss", "test_loss")
             if metrics.get(name) is not None and not math.isfinite(metrics[name])]
    tensors = [t for t in weights.values() if torch.is_tensor(t) and t.is_floating_point()]
    bad = int(sum(not torch.isfinite(t).all() for t in tensors))
    return found + ([f"{bad} of the model's {len(tensors)} tensors"] if bad else [])


def _snapshot(value, copies: dict | None = None):
    """A CPU copy of every tensor in a (nested) state dict; device copies are queued without waiting. A tensor
    two entries share (a head tied to its token embedding) is copied once and shared in the copy too, so the
    checkpoint keeps it once, as torch.save of the state dict itself does (GPT-2 small: 500 MB, not 652)."""
    copies = {} if copies is None else copies
    if isinstance(value, torch.Tensor):
        same = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.stride(),
                value.dtype, value.device)
        if same not in copies:
            copies[same] = value.detach().to("cpu", copy=True, non_blocking=value.is_cuda)
        return copies[same]
    if isinstance(value, dict):
        return {key: _snapshot(item, copies) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(item, copies) for item in value)
    return value


class RunRecorder:
    """Context manager owning one run while it trains: job lock, status, checkpoints, metrics."""

    def __init__(self, data_dir, run_id: str, *, config: dict | None = None, preset: str | None = None,
                 total_epochs: int | None = None, resume: bool = False, provenance: dict | None = None,
                 on_event: OnEvent | None = None):
        self.paths = run_paths(data_dir, run_id)
        self.data_dir, self.on_event = data_dir, on_event
        self._events: EventFollower | None = None
        self.config = config or {}
        self.preset = preset
        self.total_epochs = total_epochs
        self.resume = resume
        self.provenance = {"torch": torch.__version__, "python": platform.python_version(),
                           "host": platform.node(), **(provenance or {})}
        self._stack = ExitStack()
        self._pending: list[Future] = []
        self._rows: list[dict] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> "RunRecorder":
        self._check_existence()  # before creating anything, so a refused call leaves no stub folder
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self._stack.enter_context(job_lock(self.paths))
        try:
            self._check_existence()  # again under the lock: another job may have created it meanwhile
            self._open_run()
        except BaseException:
            self._stack.close()
            raise
        self._writer = self._stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="run-writer"))
        if self.on_event is not None:
            self._events = EventFollower(self.data_dir, self.paths, self.on_event)
        return self

    def _check_existence(self) -> None:
        exists = self.paths.run_json.exists()
        if exists and not self.resume and not is_reserved(self.paths):
            raise RunFormatError(f"run {self.paths.run_id!r} already exists at {self.paths.root}: "
                                 "choose another run id, or resume it")
        if self.resume and not exists:
            raise RunFormatError(f"cannot resume run {self.paths.run_id!r}: it does not exist at {self.paths.root}")

    def _open_run(self) -> None:
        if not self.resume:
            record = new_run_record(self.paths.run_id, kind="trained", preset=self.preset, config=self.config,
                                    total_epochs=self.total_epochs, provenance=self.provenance)
            if self.paths.run_json.exists():  # a run the job queue reserved: it was created then, not now
                record = replace(record, created=read_run(self.paths).created)
            write_run(self.paths, record)
        self._rows = read_metrics(self.paths)
        update_run(self.paths, status="running", error=None,
                   progress={"phase": "training", "total_epochs": self.total_epochs})

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._writer.shutdown(wait=True)
            write_error = next((f.exception() for f in self._pending if f.exception()), None)
            failure = exc if exc is not None else write_error
            if failure is None:
                update_run(self.paths, status="completed", progress={"phase": "done"})
                if self._events:
                    self._events.finish()
            elif isinstance(failure, KeyboardInterrupt):
                update_run(self.paths, status="cancelled", error="cancelled by the user",
                           progress={"phase": "cancelled"})
            elif isinstance(failure, TrainingDiverged):
                update_run(self.paths, status="failed", error=str(failure), non_finite_from=failure.epoch,
                           progress={"phase": "failed"})
            elif isinstance(failure, UserError):  # its message says what to do; a type name adds nothing
                update_run(self.paths, status="failed", error=str(failure), progress={"phase": "failed"})
            else:
                message = "".join(traceback.format_exception_only(type(failure), failure)).strip()
                update_run(self.paths, status="failed", error=message, progress={"phase": "failed"})
            if exc is None and write_error is not None:
                raise write_error
        finally:
            if self._events:
                self._events.stop()
            self._stack.close()
        return False

    # --- recording -------------------------------------------------------------------------------

    def log_epoch(self, epoch: int, model: nn.Module | dict, *, training_state: dict | None = None,
                  **metrics: float | None) -> None:
        """Record one epoch: the model's weights, its metrics row and (optionally) state for resuming.
        An epoch whose loss or weights are NaN/Inf is recorded too, then stops the run (TrainingDiverged)."""
        unknown = set(metrics) - METRIC_NAMES
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; allowed: {sorted(METRIC_NAMES)}")
        live = model.state_dict() if isinstance(model, nn.Module) else model
        weights = _snapshot(live)
        state = _snapshot(training_state) if training_state is not None else None
        copied = None
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            copied = torch.cuda.Event()
            copied.record()
        self._submit(self._write_epoch, epoch, weights, state, {"epoch": epoch, **metrics}, copied)
        if self._events:
            self._events.poll()
        non_finite = _non_finite(metrics, live)
        if non_finite:
            lr = self.config.get("lr")
            cause = f" (peak {lr:g})" if isinstance(lr, (int, float)) else ""
            raise TrainingDiverged(epoch, f"training diverged at epoch {epoch}: {', '.join(non_finite)} NaN/Inf; "
                                          f"the learning rate{cause} is the likely cause: train a new run with a "
                                          "smaller one")

    def resume_point(self) -> dict | None:
        """The training state of the last complete epoch, with its weights under "model" (None if no
        epoch completed), after removing whatever a killed job wrote past it."""
        if not self.paths.training_state.exists():
            last_epoch, state = -1, None
        else:
            state = self._load_for_resume(self.paths.training_state)
            last_epoch = state.get("epoch")
            if not isinstance(last_epoch, int):
                raise self._cannot_resume(self.paths.training_state, "it names no epoch")
            state["model"] = self._load_for_resume(self.paths.checkpoint(last_epoch))
        remove_checkpoints_after(self.paths, last_epoch)
        self._rows = [row for row in self._rows if row["epoch"] <= last_epoch]
        write_metrics(self.paths, self._rows)
        return state

    def _load_for_resume(self, path: Path) -> dict:
        """Read before anything is removed, so a damaged file stops the resume with one line and no loss."""
        try:
            loaded = load_plain(path)
        except CheckpointError as exc:  # a missing, truncated or overwritten file
            raise self._cannot_resume(path, str(exc)) from None
        if not isinstance(loaded, dict):
            raise self._cannot_resume(path, f"it holds a {type(loaded).__name__}, not a dict")
        return loaded

    def _cannot_resume(self, path: Path, reason: str) -> RunFormatError:
        return RunFormatError(f"cannot resume run {self.paths.run_id!r}: {path} cannot be used ({reason}); "
                              "train it again under a new run id")

    def _submit(self, fn, *args, **kwargs) -> None:
        finished = [future for future in self._pending if future.done()]
        for future in finished:  # a write that failed stops the loop here, not silently later
            if future.exception():
                raise future.exception()
        self._pending = [future for future in self._pending if future not in finished]
        self._pending.append(self._writer.submit(fn, *args, **kwargs))

    def _write_epoch(self, epoch: int, weights: dict, state: dict | None, row: dict, copied) -> None:
        if copied is not None:
            copied.synchronize()
        save_checkpoint(self.paths.checkpoint(epoch), weights)
        self._rows = [r for r in self._rows if r["epoch"] != epoch] + [row]
        write_metrics(self.paths, self._rows)
        if state is not None:
            save_checkpoint(self.paths.training_state, {"epoch": epoch, **state})
        if self._events:
            self._events.checkpoint_written()
        update_run(self.paths, progress={"epoch": epoch})
