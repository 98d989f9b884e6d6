"""Review: the text, JSON, JUnit and HTML views of results, and the live dashboard.

May import: runs, evaluate, targets, decide, suite, sim, models and the base modules.
"""
