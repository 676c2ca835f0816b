"""``dtms replay``: what dtms would have done to a trader's own trades, on recorded bars.

Each trade is opened twice in one simulated account fed with the recorded bars: one copy is
managed by the same supervisor, actors, gateway and journal that run live; the other, under a
magic dtms ignores, goes as it really went (or is left to its SL/TP). The report compares the
two. See docs/replay.md.

The package is a surface built on the runtime: nothing in ``dtms.core``, ``dtms.broker``,
``dtms.runtime`` or ``dtms.journal`` imports it. This file imports nothing, so that
``dtms.config`` can compose ``dtms.replay.settings`` without loading the rest.
"""
