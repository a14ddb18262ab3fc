"""Pure computation: numbers in, numbers out. No I/O, no clock, no database."""
