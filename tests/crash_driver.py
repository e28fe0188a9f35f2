"""A sweep driver that may SIGKILL itself: ``python -m tests.crash_driver JSON``.

Run from the repository root, which makes ``tests`` and ``experiments`` importable.
JSON: ``{"argv": [...experiments/run_sweep.py arguments...], "kill": {...} | null}``
(``kill``: :class:`crash_helpers.KillSwitch` arguments). Runs ``run_sweep.py``'s
``main`` with the trials of :func:`crash_helpers.fake_seed_trial`; exits with its code
unless the kill switch fires first. Start it in its own session: the embedded Ray it
starts is then exactly the processes of that session.
"""

import json
import sys

from tests import crash_helpers

if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    crash_helpers.install(job.get("kill"))
    from experiments.run_sweep import main

    sys.exit(main(job["argv"]))
