"""``python -m hierstan``: the ``hierstan`` command."""

import sys

from .cli import main

sys.exit(main())
