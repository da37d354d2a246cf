"""``backprop.backends.mps``: Apple's Metal backend, which backprop does not have."""

from __future__ import annotations


def is_available() -> bool:
    """False: backprop has no MPS backend."""
    return False


def is_built() -> bool:
    """False: backprop has no MPS backend."""
    return False


def is_macos_or_newer(major: int, minor: int) -> bool:
    """False, as torch without MPS."""
    return False


def is_macos13_or_newer(minor: int = 0) -> bool:
    return False
