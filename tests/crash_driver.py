"""A sweep driver that may SIGKILL itself: ``python tests/crash_driver.py JSON``.

JSON: ``{"argv": [...experiments/run_sweep.py arguments...], "kill": {...} | null}``
(``kill``: :class:`crash_helpers.KillSwitch` arguments). Runs ``run_sweep.py``'s
``main`` with the trials of :func:`crash_helpers.fake_seed_trial`; exits with its code
unless the kill switch fires first. Start it in its own session: the embedded Ray it
starts is then exactly the processes of that session.
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import crash_helpers  # noqa: E402

if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    crash_helpers.install(job.get("kill"))
    from experiments.run_sweep import main

    sys.exit(main(job["argv"]))
