"""``python -m cdio_stream.cli ...`` is the same as the ``cdio-stream`` console script."""

import sys

from cdio_stream.cli import main

sys.exit(main())
