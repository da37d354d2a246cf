"""The CUDA backend's kernel sources compile, on any machine with ``nvcc`` (no GPU needed).

The row kernels are compiled as the RawModule CuPy builds. Each elementwise kernel's operation is
wrapped the way ``cupy.ElementwiseKernel`` wraps it (``T`` a typedef; array arguments as
``const T x = ...``, outputs as ``T& y = ...``, raw arrays as pointers, scalars by value) and
compiled for float32, float64 and float16 (CuPy's float16 type, when CuPy's headers are
installed). This catches C++ errors before a GPU runs them; tests/test_cuda.py checks the
numbers on a GPU.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from backprop._backend.cuda_sources import ELEMENTWISE, ROWS

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="needs nvcc (the CUDA toolkit's compiler)")

_C_TYPES = {
    "float32": "float",
    "float64": "double",
    "int32": "int",
    "int64": "long long",
    "uint32": "unsigned int",
    "uint64": "unsigned long long",
}


def _cupy_include() -> Path | None:
    spec = importlib.util.find_spec("cupy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "_core" / "include"
    return path if path.is_dir() else None


def _compile(tmp_path: Path, name: str, source: str, include: Path | None = None) -> None:
    src = tmp_path / f"{name}.cu"
    src.write_text(source)
    cmd = [NVCC, "-std=c++14", "-arch=sm_90", "--ptx", "-o", str(tmp_path / f"{name}.ptx"), str(src)]
    if include is not None:
        cmd[1:1] = ["-I", str(include)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{name} does not compile:\n{out.stderr[-4000:]}"


def _params(spec: str, outputs: bool) -> tuple[list, list]:
    """The kernel parameters and per-element bindings CuPy makes of an in/out parameter list."""
    params, bindings = [], []
    for item in (p.strip() for p in spec.split(",")):
        words = item.split()
        raw = words[0] == "raw"
        type_name, name = words[-2], words[-1]
        c_type = "T" if type_name == "T" else _C_TYPES[type_name]
        if raw:
            params.append(f"{'' if outputs else 'const '}{c_type}* {name}")
        elif type_name == "T" or outputs:
            params.append(f"{'' if outputs else 'const '}{c_type}* _arg_{name}")
            bindings.append(f"{c_type}& {name} = _arg_{name}[i];" if outputs else f"const {c_type} {name} = _arg_{name}[i];")
        else:
            params.append(f"const {c_type} {name}")
    return params, bindings


def test_row_kernels_compile(tmp_path):
    _compile(tmp_path, "rows", ROWS)


@pytest.mark.parametrize("dtype", ["float", "double", "float16"])
def test_elementwise_kernels_compile(tmp_path, dtype):
    include = None
    lines = []
    if dtype == "float16":
        include = _cupy_include()
        if include is None:
            pytest.skip("float16 needs CuPy's headers (cupy installed)")
        lines.append("#include <cupy/float16.cuh>")
    for key, (in_params, out_params, operation, name, preamble) in ELEMENTWISE.items():
        ins, in_bind = _params(in_params, False)
        outs, out_bind = _params(out_params, True)
        lines += [
            f"namespace {key} {{",
            preamble,
            f"typedef {dtype} T;",
            f'extern "C" __global__ void {name}({", ".join(ins + outs)}, long long _size) {{',
            "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _size; i += (long long)blockDim.x * gridDim.x) {",
            "    " + " ".join(in_bind + out_bind),
            operation,
            "  }",
            "}",
            "}",
        ]
    _compile(tmp_path, f"elementwise_{dtype}", "\n".join(lines), include)
