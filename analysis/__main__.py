"""`python -m analysis ...` is `spectrascope analyze ...`."""
import sys

from spectrascope.cli import main

sys.exit(main(["analyze", *sys.argv[1:]]))
