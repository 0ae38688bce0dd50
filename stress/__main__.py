"""`python -m stress run | list | bench`."""

import sys

from .cli import main

sys.exit(main())
