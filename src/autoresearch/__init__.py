"""autoresearch: make agent skills better by experiment.

Measure a SKILL.md on binary evals, change one section at a time, keep a change only when the pass
rate rose beyond noise, and log every attempt. The CLI (`autoresearch`) is a thin layer over this
library; start with `load_suite`, `load_skill` and `evaluate_sync`.
"""

__version__ = "0.1.0"
