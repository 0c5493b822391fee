"""The argument parser every verb uses: a mistake prints what is wrong and where to get
help, in two lines, instead of the whole usage text before the message."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from shaper.cli import exits


class CommandParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        print(f"  ('{self.prog} --help' lists what it accepts)", file=sys.stderr)
        sys.exit(exits.USAGE)
