"""Benchmarks: backprop and PyTorch side by side (see benchmarks/README.md)."""
