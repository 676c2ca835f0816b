"""dtms: a defensive trade manager for MetaTrader 5.

The Python API reads the journal, so it works from any process while ``dtms run`` runs::

    from dtms import get_system_status, get_trade_status, get_action_history

The API is imported on first use, so ``import dtms`` (and the ``dtms`` command's start) stays
light: the command installs its signal handlers before anything heavy is loaded.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "get_action_history", "get_system_status", "get_trade_status"]


def __getattr__(name: str) -> Any:
    if name in ("get_action_history", "get_system_status", "get_trade_status"):
        from dtms import status

        return getattr(status, name)
    raise AttributeError(f"module 'dtms' has no attribute {name!r}")
