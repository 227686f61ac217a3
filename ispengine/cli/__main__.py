"""``python -m ispengine.cli``: the ``ispengine`` console script."""

import sys

from ispengine.cli import main

sys.exit(main())
