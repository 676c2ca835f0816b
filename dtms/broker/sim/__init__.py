"""The embedded simulated MT5 broker: a terminal and account that speak the MetaTrader5 API."""

from dtms.broker.sim.broker import SimBroker
from dtms.broker.sim.faults import FaultSettings
from dtms.broker.sim.quirks import QuirkSettings
from dtms.broker.sim.settings import MarginMode, SimSettings

__all__ = ["FaultSettings", "MarginMode", "QuirkSettings", "SimBroker", "SimSettings"]
