"""``python -m wavediff.cli``: the ``wavediff`` command."""

import sys

from . import main

sys.exit(main())
