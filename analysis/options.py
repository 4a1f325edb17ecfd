"""Analysis choices shared by the command line and the code behind it, and the error for a bad one
(torch-free, so `--help`, bad input and an up-to-date run are answered without loading torch)."""
from spectrascope.errors import UserError

BACKENDS = ("fast", "weightwatcher")
DEFAULT_BINS = 100
RANDOMIZE_EVERY = 5  # the default policy randomizes every 5th checkpoint and the last (docs/health.md)
MAX_BINS = 1000


class AnalysisError(UserError):
    """A checkpoint that cannot be analysed, or an analysis that cannot start; the message says why."""
