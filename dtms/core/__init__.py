"""The pure core: indicators, regime, score, state machine and action planning.

Nothing in this package performs I/O, reads a clock, logs, or imports trio, sqlite3 or a broker
package; a test enforces it. The runtime feeds it facts and carries out its commands.
"""
