"""Run ``tandem`` under cProfile: ``python -m bench.cprofile_tandem OUT.prof serve ...``.

Used by ``python -m bench --profile``; the stats file is written when Tandem exits on SIGTERM.
The clock is the process's CPU time, not the wall clock: time spent waiting in ``epoll`` for the
next request (or for a CPU on a shared machine) is not Tandem's cost per page.

With ``TANDEM_PROFILE_ON_SIGNAL=1`` in the environment, profiling starts at the first SIGUSR1
instead of at start-up (the bench sends it once the servers answer): start-up's imports and
regex compilation then stay out of the per-request figures.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
import time

ON_SIGNAL = "TANDEM_PROFILE_ON_SIGNAL"


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["tandem", *sys.argv[2:]]
    from tandem.cli import main as tandem_main

    prof = cProfile.Profile(time.process_time)
    if os.environ.get(ON_SIGNAL) == "1":
        started = []

        def start(_signum, _frame) -> None:
            if not started:
                started.append(True)
                prof.enable()

        signal.signal(signal.SIGUSR1, start)
        try:
            tandem_main()
        finally:
            prof.disable()
            prof.dump_stats(out)
        return
    try:
        prof.runcall(tandem_main)
    finally:
        prof.dump_stats(out)


if __name__ == "__main__":
    main()
