"""The experiment loop: the experiment and its stages, mutation, stopping, journal entries, history, publishing, finalize.

May import: every wing but cli.
"""
