"""The run format: the one package that knows a run's files (docs/run-format.md is the contract).

Torch-free on purpose: training, analysis, the jobs and the dashboard all read and write runs through it,
and so may users' own scripts. Each module owns one kind of file:

    paths     where every file lives, run ids, checkpoint names
    files     atomic writes, CSV and .npz primitives
    locks     job locks (flock) and the primitives the job queue uses
    jobfiles  job.log and the cancel request of a run's dashboard job
    record    run.json: the typed RunRecord and update_run
    tables    metrics.csv, analysis/layers.csv, analysis/weight_stats.csv, analysis/events.csv
    arrays    eigenvalues (analysis/esd/, analysis/esd_randomized/) and histograms (analysis/histograms.npz)
    manifest  analysis/manifest.json
    partial   the finished layers of a checkpoint whose analysis is under way (analysis/partial/)
    outbox    alerts.json: the alerts owed and delivered
    recovery  damaged results set aside to be rebuilt
    removal   deleting a run (`spectrascope rm`, the page's Delete)
"""
from spectrascope.runs.arrays import (
    histogram_bins, histogram_tensors, read_eigenvalues, read_histograms, read_randomized_eigenvalues,
    read_tensor_histogram, write_esd, write_histograms,
)
from spectrascope.runs.files import (
    DAMAGED_FILE_ERRORS, atomic_copy, atomic_write, disk_nearly_full, ensure_writable_dir, now_iso,
)
from spectrascope.runs.jobfiles import (
    cancel_requested, clear_cancel_request, job_log_tail, open_job_log, request_cancel, spawn_command,
)
from spectrascope.runs.locks import RunBusyError, is_locked, job_is_active, job_lock
from spectrascope.runs.manifest import checkpoint_signature, read_manifest, write_manifest
from spectrascope.runs.outbox import changed_outbox, entry_key, read_outbox
from spectrascope.runs.partial import drop_finished_layers, finished_layers, keep_finished_layer
from spectrascope.runs.paths import (
    RunFormatError, RunPaths, checkpoint_epochs, datasets_root, jobs_root, remove_checkpoints_after, run_paths,
    run_id_from, runs_root, validate_run_id,
)
from spectrascope.runs.record import (
    ACTIVE_STATUSES, FORMAT_VERSION, RUN_KINDS, RUN_STATUSES, AnalysisState, ExportState, Progress, RunRecord,
    is_reserved,
    list_runs, new_run_record, read_run, scan_runs, update_run, write_run,
)
from spectrascope.runs.recovery import set_aside_damaged_results
from spectrascope.runs.removal import delete_run
from spectrascope.runs.tables import (
    EVENT_COLUMNS, LAYER_COLUMNS, METRICS_COLUMNS, STAT_COLUMNS, event_ids, events_frame, layers_frame,
    metrics_frame, read_metrics, save_layer_rows, save_weight_stats, weight_stats_frame, weight_stats_rows,
    write_events, write_metrics,
)

__all__ = [
    "ACTIVE_STATUSES", "DAMAGED_FILE_ERRORS", "EVENT_COLUMNS", "FORMAT_VERSION", "LAYER_COLUMNS", "METRICS_COLUMNS",
    "RUN_KINDS", "RUN_STATUSES", "STAT_COLUMNS", "AnalysisState", "ExportState", "Progress", "RunBusyError",
    "RunFormatError", "RunPaths", "RunRecord", "atomic_copy", "atomic_write", "cancel_requested", "changed_outbox",
    "checkpoint_epochs", "checkpoint_signature", "clear_cancel_request", "datasets_root", "delete_run",
    "disk_nearly_full",
    "drop_finished_layers", "finished_layers", "keep_finished_layer",
    "ensure_writable_dir", "entry_key", "event_ids", "events_frame", "histogram_bins", "histogram_tensors",
    "is_locked", "is_reserved", "job_is_active", "job_lock", "job_log_tail", "jobs_root", "layers_frame",
    "list_runs", "metrics_frame", "new_run_record", "now_iso", "open_job_log", "read_eigenvalues",
    "read_histograms", "read_manifest", "read_metrics", "read_outbox", "read_randomized_eigenvalues", "read_run",
    "read_tensor_histogram", "remove_checkpoints_after", "request_cancel", "run_id_from", "run_paths", "runs_root",
    "save_layer_rows", "save_weight_stats", "scan_runs", "set_aside_damaged_results", "spawn_command", "update_run",
    "validate_run_id", "weight_stats_frame", "weight_stats_rows", "write_esd", "write_events", "write_histograms",
    "write_manifest", "write_metrics", "write_run",
]
