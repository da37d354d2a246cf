"""PyTorch's own operator database (``op_db``) as the spec: every entry backprop has, against torch.

See ``tests/opinfo_harness.py`` for what is compared. In the suite each entry runs up to
``SAMPLE_CAP`` samples per dtype on the CPU and ``DEVICE_SAMPLE_CAP`` of ``DEVICE_DTYPES`` on
the other test devices (fake-cuda by default);
``pytest tests/test_op_db.py --op-db-full`` (or ``python tests/opinfo_harness.py``) runs them all.
Samples that cannot pass here are in ``opinfo_harness.KNOWN_EXCEPTIONS`` and entries whose error
inputs cannot, in ``KNOWN_ERROR_EXCEPTIONS``, each with its reason; the suite checks that they
still fail, so an exception that starts passing must leave the list.
"""

from __future__ import annotations

import pytest

import opinfo_harness as harness
from conftest import use_device

SAMPLE_CAP = 12
# On the other test devices (fake-cuda; cuda with --device cuda) a lighter pass: the device
# plumbing of every op, in one real and one complex dtype.
DEVICE_SAMPLE_CAP = 3
DEVICE_DTYPES = ("float32", "complex64")

MIN_NAMES_PRESENT = 623  # of op_db's 636 names; the rest are in opinfo_harness.NOT_PROVIDED, with reasons

ENTRIES = [op for op in harness.op_db() if harness.name_present(op.name)]


def _param(op, *extra):
    return pytest.param(op, *extra, id="-".join([harness.entry_key(op), *extra]))


SAMPLE_CASES = [
    _param(op, dtype) for op in ENTRIES for dtype in harness.entry_dtypes(op) if harness.known_samples(op, dtype) is not None
]
ERROR_CASES = [_param(op) for op in ENTRIES if harness.has_error_inputs(op)]
KNOWN_ERROR_CASES = [_param(op) for op in ENTRIES if harness.entry_key(op) in harness.KNOWN_ERROR_EXCEPTIONS]
KNOWN_CASES = [
    pytest.param(op, dtype, id=f"{harness.entry_key(op)}-{dtype}")
    for op in ENTRIES
    for dtype in harness.entry_dtypes(op)
    if f"{harness.entry_key(op)}[{dtype}]" in harness.KNOWN_EXCEPTIONS
]


DEVICE_CASES = [case for case in SAMPLE_CASES if case.values[1] in DEVICE_DTYPES]


def pytest_generate_tests(metafunc):
    if "other_device" in metafunc.fixturenames:
        kinds = [k for k in metafunc.config.getoption("--device") or ["cpu", "fake-cuda"] if k != "cpu"]
        metafunc.parametrize("other_device", kinds, indirect=True)


@pytest.fixture
def other_device(request):
    with use_device(request.param) as name:
        yield name


@pytest.fixture
def full(request) -> bool:
    return request.config.getoption("--op-db-full")


@pytest.mark.parametrize("op,dtype", SAMPLE_CASES)
def test_samples_match_torch(op, dtype, full):
    _check_samples(op, dtype, "cpu", None if full else SAMPLE_CAP)


@pytest.mark.parametrize("op,dtype", DEVICE_CASES)
def test_samples_match_torch_on_device(op, dtype, other_device, full):
    _check_samples(op, dtype, other_device, None if full else DEVICE_SAMPLE_CAP)


def _check_samples(op, dtype: str, device: str, cap) -> None:
    known = harness.known_samples(op, dtype)
    outcome = harness.run_samples(op, dtype, device=device, max_samples=cap, skip=known)
    assert outcome.samples > 0 or known, f"{harness.entry_key(op)} yields no {dtype} samples"
    assert outcome.passed == outcome.samples


@pytest.mark.parametrize("op,dtype", KNOWN_CASES)
def test_known_exceptions_still_fail(op, dtype):
    """Each documented exception still fails (else it must leave the list)."""
    known = harness.known_samples(op, dtype)
    # a mismatch, or torch raising on op_db's own sample (to_sparse of complex with gradients)
    with pytest.raises((harness.MismatchError, RuntimeError)):
        harness.run_samples(op, dtype, max_samples=None, only=known)


@pytest.mark.parametrize("op", ERROR_CASES)
def test_error_inputs_raise_torchs_type(op):
    known = harness.known_error_inputs(op)
    count, failures = harness.run_error_inputs(op, skip=known)
    assert count > 0 or known
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("op", KNOWN_ERROR_CASES)
def test_known_error_exceptions_still_fail(op):
    known = harness.known_error_inputs(op)
    _, failures = harness.run_error_inputs(op, only=known)
    assert len(failures) == len(known), f"some documented error-input exceptions now pass: {failures}"


def test_coverage():
    present, total, missing = harness.coverage()
    assert total >= 636
    assert present >= MIN_NAMES_PRESENT, f"{present}/{total} op_db names present; missing: {' '.join(missing)}"
    undocumented = sorted(set(missing) - set(harness.NOT_PROVIDED))
    assert not undocumented, f"op_db names missing without a documented reason: {undocumented}"
    stale = sorted(set(harness.NOT_PROVIDED) - set(missing))
    assert not stale, f"names listed as not provided that backprop now has: {stale}"
