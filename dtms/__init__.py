"""dtms: a defensive trade manager for MetaTrader 5."""

__version__ = "0.1.0"
