"""backprop.distributed on several processes (MPI): every collective against NumPy on 2 and 3
processes, the launcher's variables, and how failures end a job (a rank that raises, a rank
killed, mismatched collectives): with an error naming the rank, in bounded time."""

from __future__ import annotations

import time

import pytest

import backprop
from dist_harness import check_ok, launch, needs_mpi, reports

pytestmark = needs_mpi

COLLECTIVES = """
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
rng = np.random.default_rng(0)
DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]
OPS = {"SUM": np.sum, "PRODUCT": np.prod, "MIN": np.min, "MAX": np.max, "AVG": np.mean}
failures = []

def data(r, dtype, shape):
    # every rank can compute every rank's data: same seed per (rank, dtype, shape)
    import zlib
    g = np.random.default_rng(zlib.crc32(repr((r, dtype, shape)).encode()))
    if dtype == "bool":
        return g.random(shape) > 0.5
    if dtype.startswith("float"):
        return (g.standard_normal(shape) * 2).astype(dtype)
    return g.integers(1, 4, shape).astype(dtype)

def expect(name, got, want):
    got = np.asarray(got)
    if got.dtype.kind == "f":
        ok = got.shape == want.shape and np.allclose(got, want, rtol=2e-3 if got.dtype == np.float16 else 1e-5, atol=1e-3 if got.dtype == np.float16 else 1e-6)
    else:
        ok = got.shape == want.shape and (got == want).all()
    if not ok:
        failures.append(f"{name}: {got.tolist()} != {want.tolist()}")

for dtype in DTYPES:
    for shape in [(5,), (3, 4), (1,), (7, 3)]:  # sizes not multiples of the world size
        mine = data(rank, dtype, shape)
        everyone = np.stack([data(r, dtype, shape) for r in range(world)])
        for name, fn in OPS.items():
            if name == "AVG" and not dtype.startswith("float"):
                continue
            if dtype == "bool" and name not in ("SUM", "MAX", "MIN", "PRODUCT"):
                continue
            t = torch.tensor(mine.copy())
            dist.all_reduce(t, op=getattr(dist.ReduceOp, name))
            want = fn(everyone.astype(np.float64) if dtype != "bool" else everyone, axis=0)
            want = (want != 0) if dtype == "bool" else want.astype(dtype)
            expect(f"all_reduce {name} {dtype} {shape}", t.numpy(), want)
        # reduce onto the last rank
        t = torch.tensor(mine.copy())
        dist.reduce(t, dst=world - 1, op=dist.ReduceOp.MAX)
        expect(f"reduce {dtype}", t.numpy(), everyone.max(axis=0) if rank == world - 1 else mine)
        # broadcast from rank 1
        t = torch.tensor(mine.copy())
        dist.broadcast(t, src=1)
        expect(f"broadcast {dtype}", t.numpy(), everyone[1])
        # all_gather, all_gather_into_tensor, gather, scatter
        outs = [torch.tensor(np.zeros(shape, dtype=dtype)) for _ in range(world)]
        dist.all_gather(outs, torch.tensor(mine))
        expect(f"all_gather {dtype}", np.stack([o.numpy() for o in outs]), everyone)
        big = torch.tensor(np.zeros((world * shape[0],) + shape[1:], dtype=dtype))
        dist.all_gather_into_tensor(big, torch.tensor(mine))
        expect(f"all_gather_into_tensor {dtype}", big.numpy(), everyone.reshape(big.shape))
        gl = [torch.tensor(np.zeros(shape, dtype=dtype)) for _ in range(world)] if rank == 0 else None
        dist.gather(torch.tensor(mine), gl, dst=0)
        if rank == 0:
            expect(f"gather {dtype}", np.stack([o.numpy() for o in gl]), everyone)
        t = torch.tensor(np.zeros(shape, dtype=dtype))
        dist.scatter(t, [torch.tensor(everyone[r]) for r in range(world)] if rank == 2 % world else None, src=2 % world)
        expect(f"scatter {dtype}", t.numpy(), everyone[rank])
    if dtype.startswith("float") or dtype.startswith("int"):
        full = np.stack([data(r, dtype, (world * 2, 3)) for r in range(world)])
        out = torch.tensor(np.zeros((2, 3), dtype=dtype))
        dist.reduce_scatter_tensor(out, torch.tensor(full[rank]))
        want = full.astype(np.float64).sum(axis=0).astype(dtype)[rank * 2 : rank * 2 + 2]
        expect(f"reduce_scatter_tensor {dtype}", out.numpy(), want)

# async handles overlap and complete
works = []
tensors = [torch.full((1000,), float(rank + i)) for i in range(4)]
for t in tensors:
    works.append(dist.all_reduce(t, async_op=True))
for i, (w, t) in enumerate(zip(works, tensors)):
    w.wait()
    expect(f"async {i}", t.numpy(), np.full(1000, sum(r + i for r in range(world)), dtype=np.float32))
    if not w.is_completed():
        failures.append("async: not completed after wait")

# a non-contiguous tensor: reduced in place through a staging copy
base = torch.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) * (rank + 1))
view = base.t()
dist.all_reduce(view)
expect("non-contiguous", base.numpy(), np.arange(12, dtype=np.float32).reshape(3, 4) * sum(range(1, world + 1)))

# point to point in a ring, with isend/irecv both ways (no deadlock)
right, left = (rank + 1) % world, (rank - 1) % world
recv_buf = torch.zeros(5)
sw = dist.isend(torch.full((5,), float(rank)), right)
rw = dist.irecv(recv_buf, left)
sw.wait(); rw.wait()
expect("ring", recv_buf.numpy(), np.full(5, float(left), dtype=np.float32))
if rank == 0:
    dist.send(torch.tensor([7.0, 8.0]), 1)
elif rank == 1:
    got = torch.zeros(2); src = dist.recv(got)
    expect("recv any", np.array([src]), np.array([0]))
    expect("recv", got.numpy(), np.array([7.0, 8.0], dtype=np.float32))

# objects (no pickle): JSON-able values and tensors
objs = [{"step": 3, "name": "x", "t": torch.arange(3), "nested": (1.5, None, [True])}] if rank == 0 else [None]
dist.broadcast_object_list(objs, src=0)
if objs[0]["step"] != 3 or objs[0]["t"].tolist() != [0, 1, 2] or objs[0]["nested"] != (1.5, None, [True]):
    failures.append(f"broadcast_object_list: {objs}")
gathered = [None] * world
dist.all_gather_object(gathered, {"rank": rank, "v": [rank] * rank})
if gathered != [{"rank": r, "v": [r] * r} for r in range(world)]:
    failures.append(f"all_gather_object: {gathered}")
try:
    dist.all_gather_object([None] * world, object())
    failures.append("all_gather_object accepted an arbitrary object")
except TypeError:
    pass

# a subgroup of ranks 0 and 1
sub = dist.new_group([0, 1])
if rank in (0, 1):
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t, group=sub)
    expect("new_group", t.numpy(), np.array([3.0], dtype=np.float32))
    if dist.get_world_size(sub) != 2 or dist.get_process_group_ranks(sub) != [0, 1]:
        failures.append("new_group ranks")
elif sub is not dist.GroupMember.NON_GROUP_MEMBER:
    failures.append("a rank outside new_group got a group")

dist.barrier()
report({"rank": rank, "world": world, "backend": dist.get_backend(), "failures": failures[:20], "count": len(failures)})
dist.destroy_process_group()
"""


@pytest.mark.parametrize("nproc", [2, 3])
def test_every_collective_matches_numpy(tmp_path, nproc):
    result = launch(COLLECTIVES, nproc, tmp_path, timeout=240)
    check_ok(result)
    got = reports(result)
    assert [r["rank"] for r in got] == list(range(nproc))
    for r in got:
        assert r["world"] == nproc and r["backend"] == "gloo"
        assert r["count"] == 0, r["failures"]


def test_launcher_sets_torchrun_variables_and_passes_arguments(tmp_path):
    code = """
    dist.init_process_group()
    keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS")
    report({"rank": dist.get_rank(), "env": {k: os.environ.get(k) for k in keys}, "argv": sys.argv[1:],
            "name": __name__, "initialized": dist.is_initialized(), "backend": dist.get_backend()})
    dist.destroy_process_group()
    """
    result = launch(code, 2, tmp_path, args=["--lr", "0.1"])
    check_ok(result)
    for r in reports(result):
        env = r["env"]
        assert env["RANK"] == env["LOCAL_RANK"] == str(r["rank"])
        assert env["WORLD_SIZE"] == env["LOCAL_WORLD_SIZE"] == "2"
        assert env["MASTER_ADDR"] and env["MASTER_PORT"] and env["OMP_NUM_THREADS"] == "1"
        assert r["argv"] == ["--lr", "0.1"] and r["name"] == "__main__" and r["initialized"]
        assert r["backend"] == "gloo"  # no GPU: the default backend is the CPU one, as torch


def _assert_bounded_failure(result, started: float, needle: str, limit: float = 60) -> None:
    elapsed = time.monotonic() - started
    assert result.returncode != 0, result.stdout
    assert needle in result.stderr, result.stderr[-4000:]
    assert elapsed < limit, f"the job took {elapsed:.0f} s to end"


def test_a_rank_that_raises_ends_the_job_with_its_traceback(tmp_path):
    code = """
    dist.init_process_group("gloo")
    if dist.get_rank() == 1:
        raise ValueError("rank one fails on purpose")
    x = torch.ones(3)
    dist.all_reduce(x)  # rank 0 would wait forever for rank 1
    print("unreachable")
    """
    started = time.monotonic()
    result = launch(code, 2, tmp_path)
    _assert_bounded_failure(result, started, "[rank 1] ValueError: rank one fails on purpose")
    assert "unreachable" not in result.stdout


def test_a_killed_rank_ends_the_job(tmp_path):
    code = """
    import signal
    dist.init_process_group("gloo")
    if dist.get_rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    x = torch.ones(3)
    dist.all_reduce(x)
    print("unreachable")
    """
    started = time.monotonic()
    result = launch(code, 2, tmp_path)
    _assert_bounded_failure(result, started, "signal 9")
    assert "unreachable" not in result.stdout


def test_mismatched_collectives_are_named(tmp_path):
    code = """
    dist.init_process_group("gloo")
    x = torch.ones(4)
    if dist.get_rank() == 0:
        dist.all_reduce(x)
    else:
        dist.broadcast(x, src=0)
    """
    started = time.monotonic()
    result = launch(code, 2, tmp_path)
    _assert_bounded_failure(result, started, "the ranks called different collectives: rank 0: all_reduce(float32, 4 elements); rank 1: broadcast(float32, 4 elements, root 0)")


def test_a_collective_waiting_for_a_silent_rank_times_out(tmp_path):
    code = """
    from datetime import timedelta
    import time as _t
    dist.init_process_group("gloo", timeout=timedelta(seconds=3))
    x = torch.ones(2)
    if dist.get_rank() == 0:
        dist.all_reduce(x)  # rank 1 never joins
    else:
        _t.sleep(30)
    """
    started = time.monotonic()
    result = launch(code, 2, tmp_path)
    _assert_bounded_failure(result, started, "timed out after 3 s", limit=25)


def test_without_init_the_api_says_so_and_without_mpi_it_is_explained():
    import backprop.distributed as dist

    assert dist.is_available() and not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(backprop.ones(2))
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group("carrier-pigeon")
    assert dist.Backend("GLOO") == "gloo" and dist.ReduceOp.SUM is dist.ReduceOp.SUM


def test_a_single_process_world_without_a_launcher(tmp_path):
    """``python script.py`` with init_process_group: a world of one (MPI's singleton)."""
    import subprocess
    import sys

    from dist_harness import PRELUDE, ROOT

    script = tmp_path / "single.py"
    script.write_text(
        PRELUDE
        + """
dist.init_process_group('gloo')
x = torch.ones(2) * 3
dist.all_reduce(x)
errors = []
for call in (lambda: dist.all_gather_into_tensor(torch.zeros(3), torch.ones(2)), lambda: dist.reduce_scatter_single(torch.zeros(2), torch.ones(3))):
    try:
        call()
    except RuntimeError as e:  # torch's type for a world-size mismatch
        errors.append(str(e).split(':')[0])
out = torch.zeros(2)
dist.all_gather_single(out, torch.tensor([4.0, 5.0]))
report({'rank': dist.get_rank(), 'world': dist.get_world_size(), 'x': x.tolist(), 'errors': errors, 'gathered': out.tolist()})
"""
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    check_ok(result)
    assert reports(result) == [
        {"rank": 0, "world": 1, "x": [3.0, 3.0], "errors": ["all_gather_into_tensor", "reduce_scatter_tensor"], "gathered": [4.0, 5.0]}
    ]


def test_launcher_leaves_the_programs_arguments_alone():
    """Everything after the target belongs to the program, even names the launcher also has
    (or abbreviations of them, which argparse alone would take as the launcher's)."""
    from backprop.distributed.run import parse

    args = parse(["--nproc_per_node=2", "-m", "backprop", "train", "--nproc", "2", "-m", "x", "--nnodes", "3"])
    assert (args.nproc_per_node, args.module, args.target, args.nnodes) == ("2", True, "backprop", "1")
    assert args.args == ["train", "--nproc", "2", "-m", "x", "--nnodes", "3"]
    args = parse(["--standalone", "--master-port", "1234", "--", "train.py", "--lr", "3"])
    assert (args.target, args.args, args.master_port) == ("train.py", ["--lr", "3"], 1234)
