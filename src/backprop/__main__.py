"""``python -m backprop`` runs the command line (``backprop train``)."""

import sys

from .cli import main

sys.exit(main())
