"""``dtms stress``: the command line (see ``dtms stress --help`` and docs/stress.md).

Bad input — an unknown profile, an impossible number, a config key that does not exist, a real
account — is one line on stderr and exit code 2, before anything starts. A run that found a
violation exits 1; a clean run 0.
"""

from __future__ import annotations

import sys

from dtms.config import load_settings
from dtms.errors import DtmsError
from dtms.stress.options import options_from
from dtms.stress.profiles import load_faults, load_quirks
from dtms.stress.report import ProgressLine

PROG = "dtms stress"
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str]) -> int:
    """Run ``dtms stress`` with ``argv``; return the exit code."""
    try:
        opts = options_from(argv)
        settings = load_settings(opts.config)
        load_faults(opts.faults)
        load_quirks(opts.quirks)
    except DtmsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    progress = ProgressLine()
    try:
        if opts.broker == "sim":
            from dtms.stress.run import execute, finish

            result = execute(opts, settings, progress)
        else:
            from dtms.stress.live import execute_live
            from dtms.stress.run import finish

            result = execute_live(opts, settings, progress)
        return finish(result, opts, progress)
    except DtmsError as exc:
        progress.say("")
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        progress.say("")
        print(f"{PROG}: interrupted; dtms and the simulator were stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
