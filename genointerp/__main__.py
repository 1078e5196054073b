"""``python -m genointerp`` (also what ``torchrun -m genointerp`` runs)."""

import sys

from .cli import main

sys.exit(main())
