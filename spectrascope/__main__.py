import sys

from spectrascope.cli import main

sys.exit(main())
