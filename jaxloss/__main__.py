"""``python -m jaxloss``: the ``jaxloss`` command."""

import sys

from jaxloss.tudui.cli import main

sys.exit(main())
