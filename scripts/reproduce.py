"""Regenerate results/ (all tables and plots); same as `hierstan reproduce --out results`."""

import sys

from hierstan.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
