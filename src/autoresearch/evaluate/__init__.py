"""Evaluation: cells, the runner that scores every (input x run), trigger evals and the cost preview.

May import: targets, decide, suite, sim, models and the base modules.
"""
