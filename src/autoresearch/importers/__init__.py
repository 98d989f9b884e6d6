"""Suites from the peers' formats: a module per format (promptfoo, skill-creator, trigger sets).

May import: decide, suite, models and the base modules.
"""
