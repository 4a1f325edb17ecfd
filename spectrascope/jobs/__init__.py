"""Jobs: training, analysis and exports started by the dashboard, run apart from the web process.

    commands    the kinds of job, one table entry each
    queue       slots and first-come-first-served waiting
    supervisor  run, follow, cancel and settle one job (`python -m spectrascope.jobs`)
    submit      what a front end calls: submit, start, cancel, list
    leases      a team's shared job state in Redis: current jobs, leases, the line
    ledger      a team's jobs as the data directory records them: submitted jobs, heartbeats
    team        jobs on Celery workers (REDIS_URL), and failover when a worker is lost
    probe       a team worker that stops taking jobs finds out and exits
"""
from spectrascope.jobs.commands import KINDS, JobKind, progress
from spectrascope.jobs.submit import (
    active_job, cancelling, job_claims_run, job_is_running, place_in_line, refuse_while_team_job, request_cancel,
    REPORT_FILE, start, submit_analysis, submit_export, submit_report, submit_resume, submit_training, watch,
)
from spectrascope.jobs.supervisor import Job, run_job, start_detached

__all__ = ["KINDS", "REPORT_FILE", "Job", "JobKind", "active_job", "cancelling", "job_claims_run", "job_is_running",
           "progress", "place_in_line", "refuse_while_team_job", "request_cancel", "run_job", "start",
           "start_detached", "submit_analysis", "submit_export", "submit_report", "submit_resume", "submit_training",
           "watch"]
