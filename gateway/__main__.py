"""`python -m gateway` is a shortcut for `python -m gateway.build`."""

import sys

from gateway.build import main

sys.exit(main())
