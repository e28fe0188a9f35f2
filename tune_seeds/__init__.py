"""tune-seeds: the random seeds of fine-tuning as a search space, on Ray Tune.

The subpackages, from the inside out:

- :mod:`tune_seeds.trial`: one seeded fine-tuning trial, without Ray;
- :mod:`tune_seeds.schedulers`: early discarding and the schedulers it is compared with;
- :mod:`tune_seeds.tuning`: the Ray Tune layer (trainable, seed search, sweep, tables);
- :mod:`tune_seeds.replay`: schedulers run on recorded curves;
- :mod:`tune_seeds.analysis`: pure functions of the results tables (EVP, variance, planner);
- :mod:`tune_seeds.reporting`: reports, the findings page, figures and notebooks.

Two modules at the top are the vocabulary they share: :mod:`tune_seeds.tables` (the
results tables) and :mod:`tune_seeds.plan` (an early-discarding plan and its cost).
Beside them, :mod:`tune_seeds.atomic` writes files whole or not at all, and
:mod:`tune_seeds.benchmarking` holds what the benchmarks share, and :mod:`tune_seeds.cli`
the argparse types the command-line scripts check their values with.
"""
