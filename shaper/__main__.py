import sys

from shaper.cli import main

sys.exit(main())
