"""Where every file of a run lives: the only module that spells out a run's file names."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from spectrascope.errors import UserError

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_NOT_IN_RUN_ID = re.compile(r"[^A-Za-z0-9._-]+")
# as RunPaths.checkpoint names them
_CHECKPOINT_NAME = re.compile(r"epoch_([0-9]{4}|[1-9][0-9]{4,})\.(?:pt|safetensors)")


class RunFormatError(UserError, ValueError):
    """A run id, run or run file that cannot be used; the message says what to do."""


def validate_run_id(run_id: str) -> str:
    """Run ids become directory names, so they may not escape the runs folder."""
    if not _RUN_ID.match(run_id or "") or ".." in run_id:
        raise RunFormatError(
            f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-', starting with a letter or "
            "digit (no path separators, no '..', at most 128 characters)"
        )
    return run_id


def run_id_from(name: str, fallback: str = "imported") -> str:
    """A valid run id made of any name (a folder's, say): other characters become '-', '..' becomes '.', and
    it starts with a letter or digit; `fallback` where nothing usable is left."""
    cleaned = re.sub(r"\.{2,}", ".", _NOT_IN_RUN_ID.sub("-", name)).lstrip("._-")[:128]
    return validate_run_id(cleaned or fallback)


def runs_root(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "runs"


def datasets_root(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "datasets"


def jobs_root(data_dir: str | os.PathLike) -> Path:
    """The job queue's slot locks and waiting tickets, shared by every run of the data dir."""
    return Path(data_dir) / "jobs"


@dataclass(frozen=True)
class RunPaths:
    """Every path inside one run directory."""

    root: Path

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def run_json_lock(self) -> Path:
        """Held while run.json is read, merged and written (update_run), so no update is lost."""
        return self.root / ".run.json.lock"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, epoch: int, suffix: str | None = None) -> Path:
        """The epoch's checkpoint: `epoch_NNNN.pt` (torch.save), or `epoch_NNNN.safetensors` where an import kept
        a safetensors model as one (read a tensor at a time); without `suffix`, whichever is there (.pt if none)."""
        if suffix is None:
            kept = self.checkpoints / f"epoch_{epoch:04d}.safetensors"
            return kept if kept.exists() else self.checkpoint(epoch, ".pt")
        return self.checkpoints / f"epoch_{epoch:04d}{suffix}"

    @property
    def training_state(self) -> Path:
        """Optimizer/scheduler state for --resume, kept apart from the plain-weights checkpoints."""
        return self.root / "training_state.pt"

    def job_lock(self, job: str) -> Path:
        return self.root / f".{job}.lock"

    @property
    def job_log(self) -> Path:
        """stdout and stderr of the jobs the dashboard started for this run."""
        return self.root / "job.log"

    @property
    def cancel_request(self) -> Path:
        """Present while someone has asked the run's dashboard job to stop; any process may create it."""
        return self.root / ".cancel"

    @property
    def team_job(self) -> Path:
        """A team's job on this run, as submitted to the workers (REDIS_URL): the record it is queued again
        from if Redis forgets it; gone once the job ends."""
        return self.root / ".team-job.json"

    @property
    def team_heartbeat(self) -> Path:
        """Rewritten by the team worker running the run's job every third of a lease: that job lives, whatever
        Redis says or whether it answers."""
        return self.root / ".team-alive.json"

    @property
    def analysis(self) -> Path:
        return self.root / "analysis"

    @property
    def layers_csv(self) -> Path:
        return self.analysis / "layers.csv"

    @property
    def esd_dir(self) -> Path:
        return self.analysis / "esd"

    def esd(self, epoch: int) -> Path:
        return self.esd_dir / f"epoch_{epoch:04d}.npz"

    @property
    def randomized_esd_dir(self) -> Path:
        """Beside esd/, not in it: a script reading esd/epoch_*.npz as one file per epoch stays right."""
        return self.analysis / "esd_randomized"

    def randomized_esd(self, epoch: int) -> Path:
        return self.randomized_esd_dir / f"epoch_{epoch:04d}.npz"

    def partial(self, epoch: int) -> Path:
        """The layers of an epoch finished while its analysis goes on (spectrascope.runs.partial)."""
        return self.analysis / "partial" / f"epoch_{epoch:04d}"

    @property
    def weight_stats_csv(self) -> Path:
        return self.analysis / "weight_stats.csv"

    @property
    def histograms(self) -> Path:
        return self.analysis / "histograms.npz"

    @property
    def exports(self) -> Path:
        """Files the dashboard's export jobs made, offered for download."""
        return self.root / "exports"

    @property
    def events_csv(self) -> Path:
        """Layer-health events derived from the analysis tables (spectrascope.health), rewritten as epochs land."""
        return self.analysis / "events.csv"

    @property
    def alert_outbox(self) -> Path:
        """Alerts owed to the alert endpoints and those delivered, by event id: each event is sent once."""
        return self.root / "alerts.json"

    @property
    def alert_outbox_lock(self) -> Path:
        """Held while the outbox is read and changed, and while one alert is sent."""
        return self.root / ".alerts.lock"

    @property
    def analysis_manifest(self) -> Path:
        """What each epoch's analysis was computed from, so a re-run redoes only what changed."""
        return self.analysis / "manifest.json"


def run_paths(data_dir: str | os.PathLike, run_id: str) -> RunPaths:
    return RunPaths(runs_root(data_dir) / validate_run_id(run_id))


def checkpoint_epochs(paths: RunPaths) -> list[int]:
    if not paths.checkpoints.is_dir():
        return []
    return sorted({int(match.group(1)) for name in os.listdir(paths.checkpoints)
                   if (match := _CHECKPOINT_NAME.fullmatch(name))})


def remove_checkpoints_after(paths: RunPaths, epoch: int) -> None:
    """Delete what a killed job wrote past the last complete epoch, before training resumes from it."""
    for later in checkpoint_epochs(paths):
        if later > epoch:
            paths.checkpoint(later).unlink()
