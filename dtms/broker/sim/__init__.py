"""The embedded simulated MT5 broker: a terminal and account that speak the MetaTrader5 API.

The public face of the simulator (see ``docs/simulator.md``):

* :class:`SimBroker` — the ``MetaTrader5`` module's functions and constants, on a simulated
  account; ``sim.scenario`` (:class:`Scenario`) acts on the account from outside (hand trades,
  outages, scripted answers, glitched snapshots), ``sim.market`` (:class:`Market`) steers prices.
* :class:`SimSettings` (``[broker.sim]``), :class:`FaultSettings` (``[broker.sim.faults]``),
  :class:`QuirkSettings` (``[broker.sim.quirks]``), :class:`MarketSettings`
  (``[broker.market]``) — every knob, all faults and quirks off by default.
* :class:`ManualClock`, :class:`WallClock` — what time it is on the trade server.
* :func:`serve` — the simulator as an rpyc classic server (``dtms sim-server``).
"""

from dtms.broker.sim.broker import SimBroker
from dtms.broker.sim.clock import ManualClock, WallClock
from dtms.broker.sim.faults import FaultSettings
from dtms.broker.sim.market import Market, MarketRegime, MarketSettings
from dtms.broker.sim.quirks import QuirkSettings
from dtms.broker.sim.scenario import Scenario
from dtms.broker.sim.serving import serve
from dtms.broker.sim.settings import MarginMode, SimSettings

__all__ = [
    "FaultSettings", "ManualClock", "MarginMode", "Market", "MarketRegime", "MarketSettings",
    "QuirkSettings", "Scenario", "SimBroker", "SimSettings", "WallClock", "serve",
]
