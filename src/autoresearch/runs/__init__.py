"""A run on disk: its directory, configuration, journal, locks and liveness.

May import: evaluate, targets, decide, suite, sim, models and the base modules.
"""
