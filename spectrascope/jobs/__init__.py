"""Jobs: training and analysis started by the dashboard, run apart from the web process.

    commands    the kinds of job, one table entry each
    queue       slots and first-come-first-served waiting
    supervisor  run, follow, cancel and settle one job (`python -m spectrascope.jobs`)
    submit      what a front end calls: submit, cancel, list
"""
from spectrascope.jobs.commands import KINDS, JobKind, progress
from spectrascope.jobs.submit import (
    active_job, cancelling, job_is_running, place_in_line, request_cancel, submit_analysis, submit_training,
)
from spectrascope.jobs.supervisor import Job, run_job, start_detached, watch

__all__ = ["KINDS", "Job", "JobKind", "active_job", "cancelling", "job_is_running", "progress", "place_in_line",
           "request_cancel", "run_job", "start_detached", "submit_analysis", "submit_training", "watch"]
