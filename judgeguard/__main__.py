"""``python -m judgeguard`` runs the command line."""

import sys

from judgeguard.cli import main

sys.exit(main())
