"""Benchmarks: how fast the pieces of Townsquare run, with the figures in docs."""
