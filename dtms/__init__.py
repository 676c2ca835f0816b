"""dtms: a defensive trade manager for MetaTrader 5.

The Python API reads the journal, so it works from any process while ``dtms run`` runs::

    from dtms import get_system_status, get_trade_status, get_action_history
"""

from dtms.status import get_action_history, get_system_status, get_trade_status

__version__ = "0.1.0"
__all__ = ["__version__", "get_action_history", "get_system_status", "get_trade_status"]
