"""Schedulers on recorded learning curves: replayed trials, comparisons and synthetic curves.

- :mod:`.trainable`: recorded curves replayed as Tune trials, in seconds;
- :mod:`.compare`: schedulers compared on replays at a budget, against FIFO;
- :mod:`.synthetic`: synthetic curves for tests, notebooks and scale checks.
"""
