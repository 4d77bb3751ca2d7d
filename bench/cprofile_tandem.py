"""Run ``tandem`` under cProfile: ``python -m bench.cprofile_tandem OUT.prof serve ...``.

Used by ``python -m bench --profile``; the stats file is written when Tandem exits on SIGTERM.
The clock is the process's CPU time, not the wall clock: time spent waiting in ``epoll`` for the
next request (or for a CPU on a shared machine) is not Tandem's cost per page.
"""

from __future__ import annotations

import cProfile
import sys
import time


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["tandem", *sys.argv[2:]]
    from tandem.cli import main as tandem_main

    prof = cProfile.Profile(time.process_time)
    try:
        prof.runcall(tandem_main)
    finally:
        prof.dump_stats(out)


if __name__ == "__main__":
    main()
