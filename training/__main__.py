"""`python -m training ...` is `spectrascope train ...`."""
import sys

from spectrascope.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
