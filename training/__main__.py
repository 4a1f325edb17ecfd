"""`python -m training ...` is `spectrascope train ...`."""
import sys

from spectrascope.command import main_for
from training import cli

sys.exit(main_for("train", cli))
