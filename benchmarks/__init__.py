"""capcover's benchmarks: every figure is a ratio against a baseline measured in the same run.

Run them all with `make bench` (or `python -m benchmarks.run`); results go to
benchmarks/results/latest.json and benchmarks/results/scale.png.
"""
