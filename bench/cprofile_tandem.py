"""Run ``tandem`` under cProfile: ``python -m bench.cprofile_tandem OUT.prof serve ...``.

Used by ``python -m bench --profile``; the stats file is written when Tandem exits on SIGTERM.
"""

from __future__ import annotations

import cProfile
import sys


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["tandem", *sys.argv[2:]]
    from tandem.cli import main as tandem_main

    prof = cProfile.Profile()
    try:
        prof.runcall(tandem_main)
    finally:
        prof.dump_stats(out)


if __name__ == "__main__":
    main()
