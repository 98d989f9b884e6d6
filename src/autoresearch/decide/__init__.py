"""The decisions: statistics, the keep rule, which runs play which part, the leakage guard.

May import: suite, models and the base modules.
"""
