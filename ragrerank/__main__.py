"""``python -m ragrerank`` runs the command line."""

from __future__ import annotations

import sys

from .apps.cli import main

sys.exit(main())
