"""The Ray Tune layer: a trial as a trainable, the seed search, and the sweep around them.

- :mod:`.trainable`: the seeded trial as a Tune function trainable;
- :mod:`.search`: the (WI, DO) pairs of a sweep (grid, random, Optuna);
- :mod:`.spec`: a sweep's settings, saved beside it for ``--resume``;
- :mod:`.connect`: an embedded Ray or a cluster, and its dashboard;
- :mod:`.sweep`: the Tuner of a sweep, run or resumed;
- :mod:`.results`: the results tables, kept current while the sweep runs;
- :mod:`.progress`: what a running sweep prints;
- :mod:`.preflight`, :mod:`.dryrun`: refusing a sweep that cannot run, and its plan;
- :mod:`.cluster_auth`, :mod:`.atomic_sync`: Ray workarounds (token auth, crash-safe snapshots).
"""
