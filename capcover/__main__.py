"""`python -m capcover ...`: the same as the `capcover` console script."""

from capcover.cli.main import run

run()
