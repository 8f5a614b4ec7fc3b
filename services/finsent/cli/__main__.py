"""`python -m finsent.cli`."""

import sys

from finsent.cli import main

sys.exit(main())
