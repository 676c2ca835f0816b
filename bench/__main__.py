"""Run every benchmark in turn: ``python -m bench`` (``make bench``).

Each one is also runnable on its own (``python bench/core.py --help`` and so on); all of them
print their figures and the targets they are measured against.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ("core.py", "gateway.py", "market.py", "supervisor.py", "api.py", "replay.py")


def main() -> int:
    """Run each benchmark script; non-zero if any of them failed to run."""
    failed = []
    for name in BENCHES:
        print(f"\n=== bench/{name} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
