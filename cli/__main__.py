"""`python -m cli ...`: the same as the `capcover` console script."""

from cli.main import run

run()
