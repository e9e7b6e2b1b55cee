"""Benchmarks of hierstan against PyMC and nutpie (the ``bench`` extra; never a user dependency).

``pymc_models`` writes the benchmarked hierstan programs again in PyMC 5, from the same Stan data
dict, with the same priors and parametrisation; ``run`` times every engine on them.
"""
