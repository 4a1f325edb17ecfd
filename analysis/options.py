"""Analysis choices shared by the command line and the code behind it (torch-free, so `--help` and bad
input are answered without loading torch)."""

BACKENDS = ("fast", "weightwatcher")
DEFAULT_BINS = 100
MAX_BINS = 1000
