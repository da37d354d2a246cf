"""Anomaly detection: find the op whose backward produced NaN or inf.

Inside ``detect_anomaly()`` every forward op records where it was called from, and every
backward output is checked; the first non-finite gradient raises ``RuntimeError`` naming
the backward function and showing the forward call that created it.
"""

from __future__ import annotations

import functools
import warnings

from .function import anomaly_state


def is_anomaly_enabled() -> bool:
    return anomaly_state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return anomaly_state.check_nan


class detect_anomaly:  # noqa: N801 - torch's name
    """Context manager/decorator enabling anomaly detection (slow: for debugging)."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should only be enabled for debugging.",
            UserWarning,
            stacklevel=2,
        )

    def __enter__(self):
        self._prev = (anomaly_state.enabled, anomaly_state.check_nan)
        anomaly_state.enabled = True
        anomaly_state.check_nan = self.check_nan
        return None

    def __exit__(self, *exc):
        anomaly_state.enabled, anomaly_state.check_nan = self._prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return wrapper


class set_detect_anomaly:  # noqa: N801 - torch's name
    """Turn anomaly detection on or off (immediately, and as a context manager)."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (anomaly_state.enabled, anomaly_state.check_nan)
        anomaly_state.enabled = bool(mode)
        anomaly_state.check_nan = check_nan

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        anomaly_state.enabled, anomaly_state.check_nan = self._prev
        return False
