"""The `capcover` command line (click): argument parsing, output options, one `fail()` and the
exit codes, one module per command group. Nothing outside cli/ imports it."""
