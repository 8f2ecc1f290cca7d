"""``python -m browsercouch.bridge ORIGIN``: what the browser runs (through the wrapper script that
``browsercouch install-bridge`` writes). Imports only the bridge, so that it starts in well under a second."""

import sys

from .host import main

sys.exit(main())
