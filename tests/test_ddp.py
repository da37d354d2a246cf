"""DistributedDataParallel and SyncBatchNorm on several processes (MPI).

Each program runs many checks and reports max differences; the single-process references are
computed inside rank 0's program with plain backprop (no DDP, no process group involved):

* DDP on 2 processes, each on half of every batch, ends with the weights of one process on the
  whole batch (MLP with SGD momentum, Adam and gradient_as_bucket_view; a CNN whose BatchNorm is
  converted to SyncBatchNorm); no_sync accumulation; state_dict keys; bucket all-reduces launched
  during backward (before the last parameter's gradient exists);
* broadcast_buffers; SyncBatchNorm against BatchNorm on the whole batch (outputs, input, weight and
  bias gradients, running stats); convert_sync_batchnorm; find_unused_parameters and torch's error
  without it;
* 3 processes: DistributedSampler padding and set_epoch, training with it, SyncBatchNorm with
  unequal parts (one of them empty);
* the CUDA code paths (device_ids, inputs moved to the device, buckets and SyncBatchNorm on the
  device, gloo staging through the host) on the fake CUDA backend of tests/fake_cuda.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dist_harness import check_ok, launch, needs_mpi, reports

pytestmark = needs_mpi

COMMON = """
import copy
import backprop.nn as nn
import backprop.nn.functional as F
import backprop.nn.parallel
from backprop.nn.parallel import DistributedDataParallel as DDP
from backprop.autograd.engine import engine_state

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
out = {"rank": rank}

def maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))) if np.size(a) else 0.0

def state_diff(m1, m2):
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert list(s1) == list(s2), (list(s1), list(s2))
    return max(maxdiff(s1[k].numpy(), s2[k].numpy()) for k in s1)

def spread(parts):
    return max(maxdiff(p, parts[0]) for p in parts)

def gather(t):
    parts = [torch.zeros_like(t) for _ in range(world)]
    dist.all_gather(parts, t.detach().contiguous())
    return [p.numpy() for p in parts]
"""

# ---------------------------------------------------------------------------- 2 processes: training
TRAINING = (
    COMMON
    + """
rng = np.random.default_rng(1)
X = torch.tensor(rng.standard_normal((4, 8, 6)).astype("float32"))
Y = torch.tensor(rng.standard_normal((4, 8, 3)).astype("float32"))

def mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))

def train_pair(make_opt, steps=4, **ddp_kwargs):
    # rank-dependent init: DDP must start every rank from rank 0's weights
    torch.manual_seed(10 + rank)
    model = mlp()
    ref = copy.deepcopy(model)  # rank 0's copy is the reference's start
    ddp = DDP(model, **ddp_kwargs)
    opt = make_opt(ddp.parameters())
    for step in range(steps):
        opt.zero_grad()
        F.mse_loss(ddp(X[step].chunk(world)[rank]), Y[step].chunk(world)[rank]).backward()
        opt.step()
    ropt = make_opt(ref.parameters())
    for step in range(steps):
        ropt.zero_grad()
        F.mse_loss(ref(X[step]), Y[step]).backward()
        ropt.step()
    return ddp, ref

sgd = lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)
adam = lambda ps: torch.optim.Adam(ps, lr=0.01)
ddp, ref = train_pair(sgd, bucket_cap_mb=0.001)
out["sgd"] = state_diff(ddp.module, ref)
out["same_on_ranks"] = max(spread(gather(p)) for p in ddp.parameters())
ddp, ref = train_pair(adam)
out["adam"] = state_diff(ddp.module, ref)
out["default_buckets"] = len(ddp.reducer.buckets)
ddp, ref = train_pair(sgd, bucket_cap_mb=0.001, gradient_as_bucket_view=True)
out["bucket_view"] = state_diff(ddp.module, ref)
out["grads_are_views"] = all(
    np.shares_memory(p.grad.numpy(), ddp.reducer.locate[i][0].buffer) for i, p in enumerate(ddp.reducer.params)
)

# state_dict: keys prefixed module.; loads into a plain model after consuming the prefix
from backprop.nn.modules.utils import consume_prefix_in_state_dict_if_present
sd = ddp.state_dict()
out["keys_prefixed"] = all(k.startswith("module.") for k in sd) and len(sd) == len(ref.state_dict())
consume_prefix_in_state_dict_if_present(sd, "module.")
plain = mlp()
plain.load_state_dict(sd)
out["plain_load"] = maxdiff(plain(X[0]).detach().numpy(), ddp.module(X[0]).detach().numpy())
out["ddp_train_eval"] = (ddp.eval() is ddp, ddp.module.training, ddp.train().module.training)

# CNN with BatchNorm: DDP + SyncBatchNorm on halves == BatchNorm on the whole batch
def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
torch.manual_seed(3)
plain_cnn = cnn()
ddp = DDP(nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain_cnn)))
opt, ropt = sgd(ddp.parameters()), sgd(plain_cnn.parameters())
Xc = torch.tensor((rng.standard_normal((3, 8, 3, 6, 6)) + 2).astype("float32"))
Yc = torch.tensor(rng.integers(0, 2, (3, 8)))
for step in range(3):
    opt.zero_grad()
    F.cross_entropy(ddp(Xc[step].chunk(world)[rank]), Yc[step].chunk(world)[rank]).backward()
    opt.step()
    ropt.zero_grad()
    F.cross_entropy(plain_cnn(Xc[step]), Yc[step]).backward()
    ropt.step()
out["cnn_syncbn"] = state_diff(ddp.module, plain_cnn)

# no_sync: two micro-batches, the first without communication, == one full-batch step
calls = []
real_all_reduce = dist.all_reduce
def counting_all_reduce(*args, **kwargs):
    calls.append(len(engine_state.accumulating_all) > 0)
    return real_all_reduce(*args, **kwargs)
dist.all_reduce = counting_all_reduce
torch.manual_seed(5)
model = mlp()
ref = copy.deepcopy(model)
ddp = DDP(model, bucket_cap_mb=0.001)
opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
xs, ys = X[1].chunk(world)[rank].chunk(2), Y[1].chunk(world)[rank].chunk(2)
before = len(calls)
with ddp.no_sync():
    (F.mse_loss(ddp(xs[0]), ys[0]) / 2).backward()
out["no_sync_calls"] = len(calls) - before
out["no_sync_local_grads_differ"] = spread(gather(ddp.module[0].weight.grad)) > 1e-4
(F.mse_loss(ddp(xs[1]), ys[1]) / 2).backward()
out["synced_calls"] = len(calls) - before
opt.step()
ropt = torch.optim.SGD(ref.parameters(), lr=0.1)
F.mse_loss(ref(X[1]), Y[1]).backward()
ropt.step()
out["no_sync"] = state_diff(ddp.module, ref)

# bucket overlap: all-reduces launched while backward still runs, before the last parameter's hook
torch.manual_seed(6)
model = mlp()
params = list(model.parameters())
hooks_seen = [0]
for p in params:  # registered before DDP's hooks, so they run first on each parameter
    p.register_post_accumulate_grad_hook(lambda p: hooks_seen.__setitem__(0, hooks_seen[0] + 1))
ddp = DDP(model, bucket_cap_mb=0.0002)
launches = []
def recording_all_reduce(*args, **kwargs):
    launches.append((len(engine_state.accumulating_all) > 0, hooks_seen[0], kwargs.get("async_op", False)))
    return real_all_reduce(*args, **kwargs)
dist.all_reduce = recording_all_reduce
hooks_seen[0] = 0
F.mse_loss(ddp(X[2].chunk(world)[rank]), Y[2].chunk(world)[rank]).backward()
dist.all_reduce = real_all_reduce
out["buckets"] = len(ddp.reducer.buckets)
out["launches"] = launches
out["n_params"] = len(params)
out["launch_log"] = ddp.reducer.launch_log
report(out)
dist.destroy_process_group()
"""
)


def test_ddp_training_matches_one_process(tmp_path):
    result = launch(TRAINING, 2, tmp_path)
    check_ok(result)
    got = reports(result)
    assert [r["rank"] for r in got] == [0, 1]
    r0 = got[0]
    for key in ("sgd", "adam", "bucket_view", "cnn_syncbn", "no_sync"):
        assert r0[key] < 1e-5, (key, r0[key])
    assert r0["same_on_ranks"] == 0.0
    assert r0["default_buckets"] == 1  # 25 MiB (1 MiB first): one bucket for a small model
    assert r0["grads_are_views"]
    assert r0["keys_prefixed"] and r0["plain_load"] == 0.0
    assert r0["ddp_train_eval"] == [True, False, True]
    for r in got:
        # under no_sync nothing is communicated; the synced backward all-reduces from the hooks
        assert r["no_sync_calls"] == 0 and r["no_sync_local_grads_differ"]
        assert r["synced_calls"] >= 2
        # overlap: several buckets, all launched async during backward, the first ones before the
        # last parameter's gradient was accumulated
        assert r["buckets"] >= 3
        assert all(during and is_async for during, _, is_async in r["launches"])
        early = [seen for _, seen, _ in r["launches"] if seen < r["n_params"]]
        assert len(early) >= 2, r["launches"]
        assert [b for b, _ in r["launch_log"]] == list(range(r["buckets"]))


# ---------------------------------------------------------------------------- 2 processes: layers
LAYERS = (
    COMMON
    + """
rng = np.random.default_rng(2)

# broadcast_buffers: rank 0's buffers reach every rank at the start of each forward
def bn_model():
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 1))
for flag in (True, False):
    torch.manual_seed(0)
    ddp = DDP(bn_model(), broadcast_buffers=flag)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
    for step in range(3):
        x = torch.tensor(rng.standard_normal((5, 4)).astype("float32") + rank)  # different data per rank
        opt.zero_grad()
        ddp(x).pow(2).mean().backward()
        opt.step()
    bn = ddp.module[1]
    differ_after_train = spread(gather(bn.running_mean))
    ddp.eval()
    with torch.no_grad():
        ddp(torch.zeros(2, 4))  # eval forward: buffers synced first (when broadcasting), not updated
    out[f"buffers_{flag}"] = (differ_after_train, spread(gather(bn.running_mean)), spread(gather(bn.running_var)),
                              int(spread(gather(bn.num_batches_tracked))))

# SyncBatchNorm on halves == BatchNorm on the whole batch
def sync_vs_full(shape, momentum, offset):
    C = shape[1]
    full = (rng.standard_normal(shape) * 0.5 + offset).astype("float32")
    G = rng.standard_normal(shape).astype("float32")
    w = rng.standard_normal(C).astype("float32")
    b = rng.standard_normal(C).astype("float32")
    bn = (nn.BatchNorm1d if len(shape) < 4 else nn.BatchNorm2d)(C, momentum=momentum)
    sbn = nn.SyncBatchNorm(C, momentum=momentum)
    for m in (bn, sbn):
        with torch.no_grad():
            m.weight.copy_(torch.tensor(w)); m.bias.copy_(torch.tensor(b))
    diffs = {}
    for step in range(2):
        xf = torch.tensor(full + step, requires_grad=True)
        yf = bn(xf)
        (yf * torch.tensor(G)).sum().backward()
        half = shape[0] // world
        xl = torch.tensor((full + step)[rank * half:(rank + 1) * half], requires_grad=True)
        yl = sbn(xl)
        (yl * torch.tensor(G[rank * half:(rank + 1) * half])).sum().backward()
        diffs["out"] = max(diffs.get("out", 0), maxdiff(np.concatenate(gather(yl)), yf.detach().numpy()))
        diffs["grad_in"] = max(diffs.get("grad_in", 0), maxdiff(np.concatenate(gather(xl.grad)), xf.grad.numpy()))
    for name in ("weight", "bias"):
        g = getattr(sbn, name).grad.clone()
        dist.all_reduce(g)  # local sums; DDP would average them
        want = getattr(bn, name).grad.numpy()
        diffs[name] = maxdiff(g.numpy(), want) / max(1.0, float(np.abs(want).max()))  # sums of many terms: relative
    diffs["running"] = max(maxdiff(sbn.running_mean.numpy(), bn.running_mean.numpy()),
                           maxdiff(sbn.running_var.numpy(), bn.running_var.numpy()))
    diffs["tracked"] = int(sbn.num_batches_tracked.item())
    sbn.eval(); bn.eval()
    diffs["eval"] = maxdiff(sbn(torch.tensor(full[:3])).detach().numpy(), bn(torch.tensor(full[:3])).detach().numpy())
    return diffs
out["sync_4d"] = sync_vs_full((8, 3, 4, 5), 0.1, 3.0)
out["sync_2d"] = sync_vs_full((10, 4), None, -2.0)
out["sync_3d"] = sync_vs_full((6, 2, 7), 0.3, 0.0)

# convert_sync_batchnorm keeps parameters, buffers and training mode
net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm1d(5, affine=False)))
net[2][0].eval()
w, rm = net[1].weight, net[1].running_mean
conv = net[0]
converted = nn.SyncBatchNorm.convert_sync_batchnorm(net)
out["convert"] = [type(converted[1]).__name__, type(converted[2][0]).__name__, converted[1].weight is w,
                  converted[1].running_mean is rm, converted[0] is conv, converted[2][0].training,
                  converted[2][0].weight is None, list(converted.state_dict()) == list(net.state_dict())]

# find_unused_parameters
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
    def forward(self, x, use_b):
        h = self.a(x)
        if use_b:
            h = h + self.b(x)
        return self.c(h)

X = torch.tensor(rng.standard_normal((2, 6, 4)).astype("float32"))
def grads_of(m):
    return {n: (p.grad.numpy().copy() if p.grad is not None else None) for n, p in m.named_parameters()}

def unused_case(use_b_per_rank):
    torch.manual_seed(1)
    model = Branchy()
    ref = copy.deepcopy(model)
    ddp = DDP(model, find_unused_parameters=True, bucket_cap_mb=0.0001)
    for step in range(2):
        ddp.zero_grad()
        ddp(X[step].chunk(world)[rank], use_b_per_rank[rank]).pow(2).mean().backward()
    # reference: the average of each rank's local gradients (rank r's data, rank r's branch)
    ref_grads = []
    for r in range(world):
        ref.zero_grad()
        ref(X[1].chunk(world)[r], use_b_per_rank[r]).pow(2).mean().backward()
        ref_grads.append(grads_of(ref))
    got = grads_of(ddp.module)
    diffs = {}
    for n in got:
        parts = [g[n] for g in ref_grads if g[n] is not None]
        if not parts:
            diffs[n] = "none" if got[n] is None else "unexpected grad"
        else:
            diffs[n] = maxdiff(got[n], sum(parts) / world)
    return diffs
out["unused_everywhere"] = unused_case([False, False])
out["unused_on_rank1"] = unused_case([True, False])

# an output left out of the loss (torch's _DDPSink case): its parameters count as unused
class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)
    def forward(self, x):
        return {"main": self.a(x), "aux": [self.b(x)]}

def two_heads(use_aux_per_rank):
    torch.manual_seed(2)
    model = TwoHeads()
    ref = copy.deepcopy(model)
    ddp = DDP(model, find_unused_parameters=True)
    for step in range(2):  # a second step: the first one's reduction must have finished
        ddp.zero_grad()
        o = ddp(X[step].chunk(world)[rank])
        loss = o["main"].pow(2).mean() + (o["aux"][0].sum() if use_aux_per_rank[rank] else 0)
        loss.backward()
    grads = []
    for r in range(world):
        ref.zero_grad()
        o = ref(X[1].chunk(world)[r])
        (o["main"].pow(2).mean() + (o["aux"][0].sum() if use_aux_per_rank[r] else 0)).backward()
        grads.append(grads_of(ref))
    got = grads_of(ddp.module)
    return {n: ("none" if got[n] is None else maxdiff(got[n], sum(g[n] for g in grads if g[n] is not None) / world))
            for n in got}
out["aux_unused"] = two_heads([False, False])
out["aux_on_rank0"] = two_heads([True, False])

torch.manual_seed(1)
ddp = DDP(Branchy())
ddp(X[0].chunk(world)[rank], False).pow(2).mean().backward()
try:
    ddp(X[1].chunk(world)[rank], False)
    out["error"] = None
except RuntimeError as exc:
    out["error"] = str(exc)
ddp._remove_autograd_hooks()
report(out)
dist.destroy_process_group()
"""
)


def test_buffers_syncbatchnorm_and_unused_parameters(tmp_path):
    result = launch(LAYERS, 2, tmp_path)
    check_ok(result)
    got = reports(result)
    assert [r["rank"] for r in got] == [0, 1]
    r0 = got[0]
    on, off = r0["buffers_True"], r0["buffers_False"]
    assert on[0] > 1e-3 and on[1] == on[2] == 0.0 and on[3] == 0  # equal to rank 0's after the synced forward
    assert off[1] > 1e-3  # broadcast_buffers=False: each rank keeps its own
    for case in ("sync_4d", "sync_2d", "sync_3d"):
        d = r0[case]
        assert d["tracked"] == 2
        for key in ("out", "grad_in", "weight", "bias", "running", "eval"):
            assert d[key] < 2e-5, (case, key, d[key])
    assert r0["convert"] == ["SyncBatchNorm", "SyncBatchNorm", True, True, True, False, True, True]
    everywhere = r0["unused_everywhere"]
    assert everywhere["b.weight"] == everywhere["b.bias"] == "none"  # globally unused: .grad untouched
    assert max(everywhere[k] for k in ("a.weight", "a.bias", "c.weight", "c.bias")) < 1e-6
    for r in got:
        assert max(r["unused_on_rank1"].values()) < 1e-6  # used on rank 0 only: averaged with zeros
    assert r0["aux_unused"] == {"a.weight": 0.0, "a.bias": 0.0, "b.weight": "none", "b.bias": "none"}
    assert max(r0["aux_on_rank0"].values()) < 1e-6, r0["aux_on_rank0"]
    message = r0["error"]
    assert message and message.startswith("Expected to have finished reduction in the prior iteration before starting a new one.")
    assert "find_unused_parameters=True" in message
    assert "Parameter indices which did not receive grad for rank 0: 2 3" in message


# ---------------------------------------------------------------------------- 3 processes
THREE = (
    COMMON
    + """
from backprop.utils.data import DataLoader, DistributedSampler, TensorDataset

rng = np.random.default_rng(4)
data = TensorDataset(torch.tensor(rng.standard_normal((10, 5)).astype("float32")),
                     torch.tensor(rng.standard_normal((10, 2)).astype("float32")))
sampler = DistributedSampler(data, shuffle=True, seed=3)  # world size and rank from the process group
out["sampler"] = [sampler.num_replicas, sampler.rank, len(sampler), sampler.total_size]
epochs = []
for epoch in range(2):
    sampler.set_epoch(epoch)
    mine = list(sampler)
    everyone = [None] * world
    dist.all_gather_object(everyone, mine)
    expected = []
    for r in range(world):
        s = DistributedSampler(data, num_replicas=world, rank=r, shuffle=True, seed=3)
        s.set_epoch(epoch)
        expected.append(list(s))
    epochs.append(everyone)
    out[f"epoch{epoch}"] = {"same_as_local": everyone == expected,
                           "covers": sorted(set(i for part in everyone for i in part)) == list(range(10)),
                           "count": sum(len(p) for p in everyone)}
out["reshuffled"] = epochs[0] != epochs[1]

# training with the sampler == one process on every rank's batch together
torch.manual_seed(7)
model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
ref = copy.deepcopy(model)
ddp = DDP(model, bucket_cap_mb=0.0001)
opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.5)
loader = DataLoader(data, batch_size=2, sampler=sampler)
ropt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.5)
steps = 0
for epoch in range(2):
    sampler.set_epoch(epoch)
    for x, y in loader:
        opt.zero_grad()
        F.mse_loss(ddp(x), y).backward()
        opt.step()
        steps += 1
    for b in range(2):  # the reference: the 3 ranks' b-th batches as one batch of 6
        idx = [i for part in epochs[epoch] for i in part[2 * b:2 * b + 2]]
        ropt.zero_grad()
        F.mse_loss(ref(data[idx][0]), data[idx][1]).backward()
        ropt.step()
out["steps"] = steps
out["train"] = state_diff(ddp.module, ref)
out["same_on_ranks"] = max(spread(gather(p)) for p in ddp.parameters())

# SyncBatchNorm with unequal parts, one of them empty
sizes = [4, 0, 5]
full = (rng.standard_normal((9, 3, 2)) + 1).astype("float32")
G = rng.standard_normal((9, 3, 2)).astype("float32")
start = sum(sizes[:rank])
sbn, bn = nn.SyncBatchNorm(3), nn.BatchNorm1d(3)
xl = torch.tensor(full[start:start + sizes[rank]], requires_grad=True)
yl = sbn(xl)
(yl * torch.tensor(G[start:start + sizes[rank]])).sum().backward()
xf = torch.tensor(full, requires_grad=True)
yf = bn(xf)
(yf * torch.tensor(G)).sum().backward()
out["uneven"] = {"out": maxdiff(yl.detach().numpy(), yf.detach().numpy()[start:start + sizes[rank]]),
                 "grad_in": maxdiff(xl.grad.numpy(), xf.grad.numpy()[start:start + sizes[rank]]),
                 "running": maxdiff(sbn.running_var.numpy(), bn.running_var.numpy())}
report(out)
dist.destroy_process_group()
"""
)


def test_three_processes_sampler_training_and_uneven_syncbatchnorm(tmp_path):
    result = launch(THREE, 3, tmp_path)
    check_ok(result)
    got = reports(result)
    assert [r["rank"] for r in got] == [0, 1, 2]
    for r in got:
        assert r["sampler"] == [3, r["rank"], 4, 12]  # 10 samples padded to 12
        for epoch in ("epoch0", "epoch1"):
            assert r[epoch] == {"same_as_local": True, "covers": True, "count": 12}
        assert r["reshuffled"]
        assert r["steps"] == 4
        assert r["same_on_ranks"] == 0.0
        for key, value in r["uneven"].items():
            assert value < 2e-5, (key, value)
    assert got[0]["train"] < 1e-5


# ---------------------------------------------------------------------------- fake CUDA
FAKE_CUDA = """
sys.path.insert(0, os.environ["DDP_TESTS_DIR"])
import fake_cuda
fake_cuda.install()
""" + COMMON + """
torch.manual_seed(3)
def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))
plain = cnn()
for view in (False, True):
    model = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain)).to("cuda")
    if rank == 1:
        with torch.no_grad():
            model[0].weight.add_(1.0)  # construction must broadcast rank 0's
    ddp = DDP(model, device_ids=[0], bucket_cap_mb=0.0001, gradient_as_bucket_view=view)
    ref = copy.deepcopy(plain)
    opt, ropt = (torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (ddp, ref))
    rng = np.random.default_rng(0)
    for step in range(3):
        X = torch.tensor(rng.standard_normal((8, 3, 5, 5)).astype("float32") + 1)  # on the CPU: DDP moves it
        Y = torch.tensor(rng.integers(0, 2, 8))
        opt.zero_grad()
        F.cross_entropy(ddp(X.chunk(world)[rank]), Y.chunk(world)[rank].to("cuda")).backward()
        opt.step()
        ropt.zero_grad()
        F.cross_entropy(ref(X), Y).backward()
        ropt.step()
    theirs = ref.state_dict()
    out[f"view_{view}"] = {
        "diff": max(maxdiff(v.cpu().numpy(), theirs[k].numpy()) for k, v in ddp.module.state_dict().items()),
        "devices": sorted({str(p.device) for p in ddp.parameters()} | {str(p.grad.device) for p in ddp.parameters()}),
        "buckets": len(ddp.reducer.buckets),
    }
report(out)
dist.destroy_process_group()
"""


def test_cuda_code_paths_on_the_fake_device(tmp_path):
    result = launch(FAKE_CUDA, 2, tmp_path, env={"DDP_TESTS_DIR": str(Path(__file__).resolve().parent)})
    check_ok(result)
    got = reports(result)
    assert [r["rank"] for r in got] == [0, 1]
    for r in got:
        for view in ("view_False", "view_True"):
            assert r[view]["diff"] < 1e-5, (view, r[view])
            assert r[view]["devices"] == ["cuda:0"] and r[view]["buckets"] >= 2


# ---------------------------------------------------------------------------- one process, no launcher
def test_without_a_process_group():
    import numpy as np

    import backprop as torch
    from backprop import nn

    # SyncBatchNorm is BatchNorm without a process group; DDP says the group is missing
    x = torch.tensor(np.random.default_rng(0).standard_normal((6, 3, 4)).astype("float32"))
    sbn, bn = nn.SyncBatchNorm(3), nn.BatchNorm1d(3)
    np.testing.assert_allclose(sbn(x).detach().numpy(), bn(x).detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sbn.running_var.numpy(), bn.running_var.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="expected at least 2D input"):
        sbn(torch.ones(3))
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    # DataParallel: a passthrough wrapper with torch's state_dict keys
    dp = nn.DataParallel(nn.Linear(2, 3))
    assert isinstance(dp, nn.parallel.DataParallel) and list(dp.state_dict()) == ["module.weight", "module.bias"]
    np.testing.assert_array_equal(dp(torch.ones(4, 2)).detach().numpy(), dp.module(torch.ones(4, 2)).detach().numpy())
    from backprop.nn.modules.utils import consume_prefix_in_state_dict_if_present

    sd = dp.state_dict()
    consume_prefix_in_state_dict_if_present(sd, "module.")
    assert list(sd) == ["weight", "bias"]
    import torch as real_torch

    theirs = {"module.a": 1, "module.b.c": 2, "other": 3}
    ours = dict(theirs)
    real_torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(theirs, "module.")
    consume_prefix_in_state_dict_if_present(ours, "module.")
    assert ours == theirs and list(ours) == list(theirs)


def test_data_parallel_runs_the_module_on_the_first_device(device):
    import numpy as np

    import backprop as torch
    from backprop import nn

    torch.manual_seed(0)
    inner = nn.Linear(3, 2)
    want = inner(torch.ones(4, 3)).detach().numpy()
    dp = nn.DataParallel(inner)
    out = dp(torch.ones(4, 3))  # CPU input: moved to device_ids[0] when there is a GPU
    assert dp.module is inner and out.device.type == device
    assert dp.device_ids == ([0] if device == "cuda" else [])
    np.testing.assert_allclose(out.detach().cpu().numpy(), want, rtol=1e-6)
    out.sum().backward()
    assert inner.weight.grad is not None and inner.weight.device.type == device
