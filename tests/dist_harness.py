"""Running test programs on several processes: ``launch(code, nproc)`` writes ``code`` to a file
and runs it with ``python -m backprop.distributed.run --nproc-per-node nproc`` (MPI underneath),
returning the finished process (stdout, stderr, returncode). Programs print one JSON line per
rank (``report(obj)``) for the test to read back with ``reports(result)``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import json, os, sys
import numpy as np
import backprop as torch
import backprop.distributed as dist

def report(obj):
    print("REPORT " + json.dumps(obj), flush=True)
"""


def mpi_available() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


needs_mpi = pytest.mark.skipif(not mpi_available(), reason="needs mpi4py and an MPI library (pip install 'backprop[distributed]')")


def launch(code: str, nproc: int, tmp_path: Path, timeout: float = 120, args: list | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` (the PRELUDE is prepended) on ``nproc`` processes; never longer than ``timeout``."""
    script = tmp_path / f"prog_{abs(hash(code)) % 10**8}.py"
    script.write_text(PRELUDE + textwrap.dedent(code))
    return launch_script(script, nproc, tmp_path, timeout, args, env)


def launch_script(script: Path, nproc: int, cwd: Path, timeout: float = 120, args: list | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the program ``script`` with ``args`` on ``nproc`` processes, from ``cwd``."""
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "backprop.distributed.run", "--nproc-per-node", str(nproc), str(script)] + list(args or [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)


def reports(result: subprocess.CompletedProcess) -> list:
    """The JSON objects the ranks reported, in rank order (each report carries ``rank``)."""
    found = [json.loads(line[len("REPORT ") :]) for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    return sorted(found, key=lambda r: r.get("rank", 0))


def check_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}"
