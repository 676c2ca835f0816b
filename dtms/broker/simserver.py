"""``dtms sim-server`` entry point: ``python -m dtms.broker.simserver`` and ``dtms sim-server``.

The simulator serves itself: the server lives in ``dtms.broker.sim.serving`` and the command
line in ``dtms.broker.sim.cli``. This module keeps the established import path.
"""

from __future__ import annotations

import sys

from dtms.broker.sim.cli import main
from dtms.broker.sim.serving import (
    DEFAULT_PORT,
    Stopped,
    build_module,
    is_loopback,
    portable,
    ready_line,
    serve,
)

__all__ = [
    "DEFAULT_PORT", "Stopped", "build_module", "is_loopback", "main", "portable", "ready_line",
    "serve",
]

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
