"""PyTorch's own operator database (``op_db``) as the spec: every entry backprop has, against torch.

See ``tests/opinfo_harness.py`` for what is compared. In the suite each entry runs up to
``SAMPLE_CAP`` samples per dtype on the CPU and ``DEVICE_SAMPLE_CAP`` on the other test devices;
``pytest tests/test_op_db.py --op-db-full`` (or ``python tests/opinfo_harness.py``) runs them all.
Entries that cannot pass here are in ``opinfo_harness.KNOWN_EXCEPTIONS`` (samples) and
``KNOWN_ERROR_EXCEPTIONS`` (error inputs), each with its reason; they run as strict xfails, so
an entry that starts passing must leave the list.
"""

from __future__ import annotations

import pytest

import opinfo_harness as harness

SAMPLE_CAP = 12
DEVICE_SAMPLE_CAP = 3

# The target is 560 of 636 names; this is the floor the suite holds (raise it as names land).
MIN_NAMES_PRESENT = 360
MIN_ERROR_INPUT_SHARE = 0.0

ENTRIES = [op for op in harness.op_db() if harness.name_present(op.name)]


def _param(op, *extra, exceptions=harness.KNOWN_EXCEPTIONS):
    key = harness.entry_key(op)
    ident = "-".join([key, *extra])
    reason = exceptions.get(key) or (exceptions.get(f"{key}[{extra[0]}]") if extra else None)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(op, *extra, id=ident, marks=marks)


SAMPLE_CASES = [_param(op, dtype) for op in ENTRIES for dtype in harness.entry_dtypes(op)]
ERROR_CASES = [_param(op, exceptions=harness.KNOWN_ERROR_EXCEPTIONS) for op in ENTRIES if op.error_inputs_func is not None]


@pytest.fixture
def sample_cap(request, device):
    if request.config.getoption("--op-db-full"):
        return None
    return SAMPLE_CAP if request.node.callspec.params["device"] == "cpu" else DEVICE_SAMPLE_CAP


@pytest.mark.parametrize("op,dtype", SAMPLE_CASES)
def test_samples_match_torch(op, dtype, device, sample_cap):
    outcome = harness.run_samples(op, dtype, device=device, max_samples=sample_cap)
    assert outcome.samples > 0, f"{harness.entry_key(op)} yields no {dtype} samples"
    assert outcome.passed == outcome.samples


@pytest.mark.parametrize("op", ERROR_CASES)
def test_error_inputs_raise_torchs_type(op):
    count, failures = harness.run_error_inputs(op)
    assert count > 0
    assert not failures, "\n".join(failures)


def test_coverage():
    present, total, missing = harness.coverage()
    assert total >= 636
    assert present >= MIN_NAMES_PRESENT, f"{present}/{total} op_db names present; missing: {' '.join(missing)}"
