"""``python -m skdnn``: see :mod:`skdnn.cli`."""

from skdnn.cli import main

raise SystemExit(main())
