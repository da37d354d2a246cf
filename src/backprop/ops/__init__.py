"""Differentiable primitives, grouped by kind. Each is an ``autograd.Function``; the functions
here are the public entry points that validate arguments and promote dtypes."""
