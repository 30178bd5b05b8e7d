"""`python -m cnndsl.cli` (and `torchrun -m cnndsl.cli`): the `cnndsl` command."""

import sys

from .main import main

sys.exit(main())
