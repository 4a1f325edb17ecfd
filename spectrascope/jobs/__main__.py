"""`python -m spectrascope.jobs [--detach] JOB_JSON`: run one job (what the dashboard starts)."""
import sys

from spectrascope.jobs.supervisor import main

sys.exit(main())
