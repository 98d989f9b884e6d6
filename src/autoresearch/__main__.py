"""`python -m autoresearch` runs the CLI."""

from .cli.main import main

main()
