"""``dtms stress``: what a market shock does to dtms, measured from outside as a user would.

The room builds a simulated account in its own process (``dtms sim-server``), trades on it as a
trader's EA would, runs ``dtms run --broker mt5linux`` against it and kills it now and then, and
afterwards checks the broker's history and dtms's journal for anything a trader would call a
failure. It uses the runtime and the simulator; nothing below it imports it.
"""
