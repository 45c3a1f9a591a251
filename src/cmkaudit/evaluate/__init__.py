"""The evaluate stage: the benchmark run against an inventory."""
