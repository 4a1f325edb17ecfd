"""`python -m analysis ...` is `spectrascope analyze ...`."""
import sys

from analysis import cli
from spectrascope.command import main_for

sys.exit(main_for("analyze", cli))
