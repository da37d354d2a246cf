"""Sparse COO tensors against torch 2.13: creation, coalescing, conversions, products and their
gradients (w.r.t. the dense operand and the sparse values), errors, and a GCN trained with Adam."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop

pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks")

# An uncoalesced 3x4 COO matrix: (0, 2) appears twice, indices unsorted.
IDX = [[0, 2, 1, 0, 2], [2, 0, 3, 2, 1]]
VALS = [1.5, -2.0, 0.5, 3.0, 4.0]


def host(t) -> np.ndarray:
    """A backprop or torch tensor (dense or sparse) or an array as a dense float64 NumPy array."""
    if isinstance(t, np.ndarray):
        return t.astype(np.float64)
    if isinstance(t, torch.Tensor):
        t = t.detach()
        return (t.to_dense() if t.is_sparse else t).numpy().astype(np.float64)
    t = t.detach()
    if t.is_sparse:
        t = t.to_dense()
    return t.cpu().numpy().astype(np.float64)


def close(a, b, tol=1e-6) -> None:
    np.testing.assert_allclose(host(a), host(b), rtol=tol, atol=tol)


def pair(device, dtype_bp=backprop.float64, dtype_t=torch.float64, requires_grad=True):
    """The same uncoalesced sparse matrix built from values requiring grad, in both libraries."""
    v_bp = backprop.tensor(VALS, dtype=dtype_bp, device=device, requires_grad=requires_grad)
    v_t = torch.tensor(VALS, dtype=dtype_t, requires_grad=requires_grad)
    s_bp = backprop.sparse_coo_tensor(backprop.tensor(IDX, device=device), v_bp, (3, 4))
    s_t = torch.sparse_coo_tensor(torch.tensor(IDX), v_t, (3, 4))
    return s_bp, v_bp, s_t, v_t


def test_creation_metadata(device):
    s, _, st, _ = pair(device)
    assert s.layout is backprop.sparse_coo and s.is_sparse and not backprop.ones(1).is_sparse
    assert backprop.ones(1).layout is backprop.strided
    assert tuple(s.shape) == tuple(st.shape) and s.size(1) == 4 and s.dim() == 2 and s.numel() == 12
    assert (s.sparse_dim(), s.dense_dim(), s._nnz()) == (st.sparse_dim(), st.dense_dim(), st._nnz())
    assert s.is_coalesced() is st.is_coalesced() is False
    assert s.requires_grad and s.grad_fn.name() == "SparseCooTensorWithDimsAndTensorsBackward0"
    assert s.device.type == device and s._indices().device.type == device
    assert isinstance(s, backprop.Tensor)
    np.testing.assert_array_equal(host(s._indices()), host(st._indices()))
    close(s._values(), st._values())
    close(s, st)
    # size inferred from the indices; hybrid values give dense dims
    inferred = backprop.sparse_coo_tensor(IDX, VALS, device=device)
    assert tuple(inferred.shape) == tuple(torch.sparse_coo_tensor(IDX, VALS).shape) == (3, 4)
    hyb = backprop.sparse_coo_tensor([[0, 2]], [[1.0, 2.0], [3.0, 4.0]], (3, 2), device=device)
    close(hyb, torch.sparse_coo_tensor([[0, 2]], [[1.0, 2.0], [3.0, 4.0]], (3, 2)))
    assert hyb.dense_dim() == 1 and hyb.dtype is backprop.float32
    ints = backprop.sparse_coo_tensor(IDX, [1, 2, 3, 4, 5], (3, 4), device=device)
    assert ints.dtype is backprop.int64
    assert backprop.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=backprop.float64).dtype is backprop.float64


def test_repr_matches_torch():
    s = backprop.sparse_coo_tensor(IDX, VALS, (3, 4))
    st = torch.sparse_coo_tensor(IDX, VALS, (3, 4))
    assert repr(s).replace("backprop.", "torch.") == repr(st)
    g = backprop.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,), dtype=backprop.float64, requires_grad=True)
    gt = torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,), dtype=torch.float64, requires_grad=True)
    assert repr(g).replace("backprop.", "torch.") == repr(gt)


def test_coalesce_sums_duplicates(device):
    s, v, st, vt = pair(device)
    c, ct = s.coalesce(), st.coalesce()
    assert c.is_coalesced() and c._nnz() == ct._nnz() == 4
    np.testing.assert_array_equal(host(c.indices()), host(ct.indices()))
    close(c.values(), ct.values())
    assert c.coalesce() is c
    w = [1.0, -2.0, 3.0, 0.25]
    (c.values() * backprop.tensor(w, dtype=backprop.float64, device=device)).sum().backward()
    (ct.values() * torch.tensor(w, dtype=torch.float64)).sum().backward()
    close(v.grad, vt.grad)  # each duplicate gets the gradient of its coalesced entry
    with pytest.raises(RuntimeError, match="uncoalesced"):
        s.indices()
    with pytest.raises(RuntimeError, match="uncoalesced"):
        s.values()


def test_to_sparse_round_trip(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 5)) * (rng.random((4, 5)) < 0.4)
    x = backprop.tensor(a, device=device, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    s, st = x.to_sparse(), xt.to_sparse()
    assert s.is_coalesced() and s._nnz() == st._nnz()
    np.testing.assert_array_equal(host(s.indices()), host(st.indices()))
    close(s.to_dense(), a)
    w = rng.standard_normal((4, 5))
    (s.to_dense() * backprop.tensor(w, device=device)).sum().backward()
    (st.to_dense() * torch.tensor(w)).sum().backward()
    close(x.grad, xt.grad)
    # to_sparse(sparseDim), layout=, to_sparse_coo; strided to_dense is the tensor itself
    h, ht = x.detach().to_sparse(1), xt.detach().to_sparse(1)
    assert h.dense_dim() == ht.dense_dim() == 1 and h._nnz() == ht._nnz()
    close(h, ht)
    assert x.detach().to_sparse(layout=backprop.sparse_coo)._nnz() == st._nnz()
    assert x.detach().to_sparse_coo()._nnz() == st._nnz()
    assert s.to_sparse() is s
    assert x.to_dense() is x
    with pytest.raises(RuntimeError):
        x.to_sparse(layout=backprop.sparse_csr)


def test_to_dense_grad_of_sparse_leaf(device):
    s = backprop.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=backprop.float64, device=device, requires_grad=True)
    st = torch.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=torch.float64, requires_grad=True)
    w = np.arange(12.0).reshape(3, 4)
    (s.to_dense() * backprop.tensor(w, device=device)).sum().backward()
    (st.to_dense() * torch.tensor(w)).sum().backward()
    assert s.grad.is_sparse and st.grad.is_sparse and s.grad._nnz() == st.grad._nnz()
    np.testing.assert_array_equal(host(s.grad._indices()), host(st.grad._indices()))
    close(s.grad, st.grad)


@pytest.mark.parametrize("how", ["sparse.mm", "spmm", "mm", "matmul", "@", "method"])
def test_product_forward_and_grads(device, how):
    s, v, st, vt = pair(device)
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((4, 3))
    x = backprop.tensor(xa, device=device, requires_grad=True)
    xt = torch.tensor(xa, requires_grad=True)
    fns = {
        "sparse.mm": (backprop.sparse.mm, torch.sparse.mm),
        "spmm": (backprop.spmm, torch.spmm),
        "mm": (backprop.mm, torch.mm),
        "matmul": (backprop.matmul, torch.matmul),
        "@": (lambda a, b: a @ b, lambda a, b: a @ b),
        "method": (lambda a, b: a.mm(b), lambda a, b: a.mm(b)),
    }
    f, ft = fns[how]
    y, yt = f(s, x), ft(st, xt)
    assert not y.is_sparse and y.device.type == device
    close(y, yt)
    g = rng.standard_normal((3, 3))
    y.backward(backprop.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    close(x.grad, xt.grad)
    close(v.grad, vt.grad)


@pytest.mark.parametrize("how", ["sparse.mm", "mm", "spmm"])
def test_grad_of_sparse_leaf(device, how):
    """torch.sparse.mm gives a sparse leaf a sparse gradient masked to its pattern; torch.mm and
    spmm give it the dense gradient."""
    s = backprop.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=backprop.float64, device=device, requires_grad=True)
    st = torch.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=torch.float64, requires_grad=True)
    xa = np.random.default_rng(2).standard_normal((4, 2))
    f = {"sparse.mm": backprop.sparse.mm, "mm": backprop.mm, "spmm": backprop.spmm}[how]
    ft = {"sparse.mm": torch.sparse.mm, "mm": torch.mm, "spmm": torch.spmm}[how]
    f(s, backprop.tensor(xa, device=device)).sum().backward()
    ft(st, torch.tensor(xa)).sum().backward()
    assert s.grad.is_sparse == st.grad.is_sparse
    if st.grad.is_sparse:
        assert s.grad._nnz() == st.grad._nnz()
        np.testing.assert_array_equal(host(s.grad._indices()), host(st.grad._indices()))
    close(s.grad, st.grad)


def test_product_double_backward(device):
    s, v, st, vt = pair(device)
    xa = np.random.default_rng(3).standard_normal((4, 2))
    x = backprop.tensor(xa, device=device, requires_grad=True)
    xt = torch.tensor(xa, requires_grad=True)
    (gx,) = backprop.autograd.grad((backprop.sparse.mm(s, x) ** 2).sum(), x, create_graph=True)
    (gxt,) = torch.autograd.grad((torch.sparse.mm(st, xt) ** 2).sum(), xt, create_graph=True)
    close(gx, gxt)
    gx.sum().backward()
    gxt.sum().backward()
    close(v.grad, vt.grad)
    close(x.grad, xt.grad)


def test_gradcheck_values_and_dense():
    idx = backprop.tensor(IDX)

    def f(values, x):
        return backprop.sparse.mm(backprop.sparse_coo_tensor(idx, values, (3, 4)), x)

    v = backprop.tensor(VALS, dtype=backprop.float64, requires_grad=True)
    x = backprop.randn(4, 2, dtype=backprop.float64, requires_grad=True)
    assert backprop.autograd.gradcheck(f, (v, x))
    assert backprop.autograd.gradgradcheck(f, (v, x))


def test_arithmetic_transpose_sum(device):
    s, v, st, vt = pair(device)
    other = backprop.sparse_coo_tensor([[1, 2], [1, 3]], [2.0, 5.0], (3, 4), dtype=backprop.float64, device=device)
    other_t = torch.sparse_coo_tensor([[1, 2], [1, 3]], [2.0, 5.0], (3, 4), dtype=torch.float64)
    cases = [
        (s * 2.5, st * 2.5),
        (3 * s, 3 * st),
        (s / 4, st / 4),
        (-s, -st),
        (s + other, st + other_t),
        (s - other, st - other_t),
        (s.t(), st.t()),
        (s.transpose(0, 1), st.transpose(0, 1)),
        (s.T, st.T),
        (backprop.ones(3, 4, dtype=backprop.float64, device=device) + s, torch.ones(3, 4, dtype=torch.float64) + st),
        (backprop.sparse.sum(s), torch.sparse.sum(st)),
        (s.sum(), st.sum()),
        (backprop.sparse.sum(s, 1), torch.sparse.sum(st, 1)),
        (backprop.sparse.sum(s, 0), torch.sparse.sum(st, 0)),
        (backprop.sparse.sum(s, (0, 1)), torch.sparse.sum(st, (0, 1))),
    ]
    total, total_t = 0, 0
    for i, (a, at) in enumerate(cases):
        assert a.is_sparse == at.is_sparse, i
        close(a, at)
        w = np.arange(1.0, 1.0 + at.numel()).reshape(tuple(at.shape)) / 7
        total = total + (a.to_dense() * backprop.tensor(w, device=device)).sum()
        total_t = total_t + (at.to_dense() * torch.tensor(w)).sum()
    total.backward()
    total_t.backward()
    close(v.grad, vt.grad)


def test_sparse_sum_result_is_coalesced_sparse(device):
    s, _, st, _ = pair(device)
    r, rt = backprop.sparse.sum(s, 1), torch.sparse.sum(st, 1)
    assert r.is_coalesced() and r._nnz() == rt._nnz()
    np.testing.assert_array_equal(host(r.indices()), host(rt.indices()))


def test_addmm_and_softmax(device):
    s, v, st, vt = pair(device)
    xa = np.random.default_rng(4).standard_normal((4, 2))
    ma = np.random.default_rng(5).standard_normal((3, 2))
    x, xt = backprop.tensor(xa, device=device), torch.tensor(xa)
    m, mt = backprop.tensor(ma, device=device), torch.tensor(ma)
    y = backprop.sparse.addmm(m, s, x, beta=0.5, alpha=2.0)
    yt = torch.sparse.addmm(mt, st, xt, beta=0.5, alpha=2.0)
    close(y, yt)
    close(backprop.addmm(m, s, x), torch.addmm(mt, st, xt))
    for dim in (0, 1):
        sm, smt = backprop.sparse.softmax(s, dim), torch.sparse.softmax(st, dim)
        assert sm.is_sparse and sm._nnz() == smt._nnz()
        close(sm.coalesce().values(), smt.coalesce().values())
        lsm, lsmt = backprop.sparse.log_softmax(s, dim), torch.sparse.log_softmax(st, dim)
        close(lsm.coalesce().values(), lsmt.coalesce().values())
    w = np.arange(1.0, 5.0)
    (y.sum() + (backprop.sparse.softmax(s, 1).values() * backprop.tensor(w, device=device)).sum()).backward()
    (yt.sum() + (torch.sparse.softmax(st, 1).coalesce().values() * torch.tensor(w)).sum()).backward()
    close(v.grad, vt.grad)


def test_matrix_vector_and_dense_sparse(device):
    s, v, st, vt = pair(device)
    vec = np.array([1.0, -1.0, 2.0, 0.5])
    close(backprop.matmul(s, backprop.tensor(vec, device=device)), torch.matmul(st, torch.tensor(vec)))
    da = np.random.default_rng(6).standard_normal((2, 3))
    d = backprop.tensor(da, device=device, requires_grad=True)
    dt = torch.tensor(da, requires_grad=True)
    y, yt = d @ s, dt @ st
    close(y, yt)
    y.sum().backward()
    yt.sum().backward()
    close(d.grad, dt.grad)
    close(v.grad, vt.grad)


def test_device_dtype_moves_and_detach(device):
    s, v, _, _ = pair(device)
    d = s.detach()
    assert d.is_sparse and not d.requires_grad and d._nnz() == s._nnz()
    assert s.to(backprop.float32).dtype is backprop.float32 and s.float().is_sparse
    cpu = s.cpu()
    assert cpu.device.type == "cpu" and cpu._indices().device.type == "cpu" and cpu.is_sparse
    close(cpu, s)
    back = cpu.to(device)
    assert back.device.type == device and back._indices().device.type == device
    back.to_dense().sum().backward()
    np.testing.assert_allclose(host(v.grad), np.ones(5))
    leaf = backprop.sparse_coo_tensor(IDX, VALS, (3, 4), device=device).requires_grad_()
    assert leaf.requires_grad and leaf.is_leaf
    assert s.clone()._nnz() == s._nnz()


def test_errors_match_torch(device):
    s, _, st, _ = pair(device, requires_grad=False)
    bad = backprop.ones(3, 2, dtype=backprop.float64, device=device)
    for f, ft in ((backprop.sparse.mm, torch.sparse.mm), (backprop.mm, torch.mm), (backprop.spmm, torch.spmm)):
        with pytest.raises(RuntimeError, match=r"3x4 and 3x2"):
            f(s, bad)
        with pytest.raises(RuntimeError):
            ft(st, torch.ones(3, 2, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="dtype"):
        backprop.sparse.mm(s, backprop.ones(4, 2, device=device))
    for reduce in ("sum", "mean"):  # torch takes reduce= with CSR matrices only
        with pytest.raises(NotImplementedError):
            torch.sparse.mm(st, torch.ones(4, 2, dtype=torch.float64), reduce)
        with pytest.raises(NotImplementedError, match="CSR"):
            backprop.sparse.mm(s, backprop.ones(4, 2, dtype=backprop.float64, device=device), reduce)
    with pytest.raises(RuntimeError, match="size is inconsistent with indices: for dim 1, size is 2 but found index 3"):
        backprop.sparse_coo_tensor(IDX, VALS, (3, 2), check_invariants=True)
    with pytest.raises(RuntimeError, match="found negative index -1 for dim 0"):
        backprop.sparse_coo_tensor([[-1, 0]], [1.0, 2.0], (3,), check_invariants=True)
    with backprop.sparse.check_sparse_tensor_invariants():
        with pytest.raises(RuntimeError, match="size is inconsistent"):
            backprop.sparse_coo_tensor(IDX, VALS, (3, 2))
    with pytest.raises(RuntimeError, match="same nnz"):
        backprop.sparse_coo_tensor(IDX, VALS[:3], (3, 4))
    with pytest.raises(RuntimeError, match="len\\(size\\) == sparse_dim \\+ dense_dim"):
        backprop.sparse_coo_tensor(IDX, VALS, (3,))
    with pytest.raises(RuntimeError, match="add\\(sparse, dense\\) is not supported"):
        s + backprop.ones(3, 4, dtype=backprop.float64, device=device)
    # dense-only ops: torch's NotImplementedError (methods and functions), not AttributeError
    for call in (lambda: s.exp(), lambda: backprop.exp(s), lambda: s.view(12), lambda: s.max(), lambda: s[0],
                 lambda: backprop.relu(s), lambda: s.reshape(12)):
        with pytest.raises(NotImplementedError, match="Sparse"):
            call()
    for call in (lambda: st.exp(), lambda: torch.exp(st), lambda: st.view(12), lambda: st.max()):
        with pytest.raises(NotImplementedError):
            call()
    with pytest.raises(TypeError, match="to_dense"):
        s.numpy()
    with pytest.raises(RuntimeError, match="doesn't have storage"):
        s.data_ptr()
    with pytest.raises(RuntimeError):
        backprop.sparse_coo_tensor(IDX, [1, 2, 3, 4, 5], (3, 4)).requires_grad_()


def _gcn_graph(n: int = 12, feats: int = 5, seed: int = 0):
    """A random undirected graph with self loops, D^-1/2 (A + I) D^-1/2 as COO arrays, features, labels."""
    rng = np.random.default_rng(seed)
    edges = {(i, j) for i, j in rng.integers(0, n, size=(3 * n, 2)) if i != j}
    edges |= {(j, i) for i, j in edges} | {(i, i) for i in range(n)}
    idx = np.array(sorted(edges)).T
    deg = np.bincount(idx[0], minlength=n).astype(np.float64)
    vals = (deg[idx[0]] ** -0.5) * (deg[idx[1]] ** -0.5)
    x = rng.standard_normal((n, feats))
    y = rng.integers(0, 3, size=n)
    w1, w2 = rng.standard_normal((feats, 8)) * 0.4, rng.standard_normal((8, 3)) * 0.4
    return idx, vals, x, y, (w1, w2)


def _train_gcn(lib, device: str, data, steps: int = 6) -> list:
    """The program of pytorch/examples' GCN, written once against torch's API."""
    idx, vals, x, y, (w1, w2) = data
    n = x.shape[0]
    dt = lib.float32
    adj = lib.sparse_coo_tensor(lib.tensor(idx), lib.tensor(vals, dtype=dt), (n, n)).coalesce().to(device)
    feats = lib.tensor(x, dtype=dt).to(device)
    labels = lib.tensor(y).to(device)

    class GraphConv(lib.nn.Module):
        def __init__(self, w):
            super().__init__()
            self.kernel = lib.nn.Parameter(lib.tensor(w, dtype=dt))
            self.bias = lib.nn.Parameter(lib.zeros(w.shape[1], dtype=dt))

        def forward(self, inp, a):
            return lib.spmm(a, lib.mm(inp, self.kernel)) + self.bias

    class GCN(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.gc1, self.gc2 = GraphConv(w1), GraphConv(w2)

        def forward(self, inp, a):
            h = lib.nn.functional.relu(self.gc1(inp, a))
            return lib.nn.functional.log_softmax(lib.sparse.mm(a, h @ self.gc2.kernel) + self.gc2.bias, dim=1)

    model = GCN().to(device)
    opt = lib.optim.Adam(model.parameters(), lr=0.05, weight_decay=5e-4)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = lib.nn.functional.nll_loss(model(feats, adj), labels)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


def test_gcn_training_matches_torch(device):
    data = _gcn_graph()
    ours = _train_gcn(backprop, device, data)
    theirs = _train_gcn(torch, "cpu", data)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert ours[-1] < ours[0]


def _examples_gcn_inputs(lib, device: str, n: int = 40, f: int = 30, seed: int = 0):
    """pytorch/examples' GCN data preparation (load_cora) on a random bag-of-words graph: a
    sparse int64 adjacency with duplicate edges, dense + sparse, sparse diagonals @ dense @ sparse."""
    rng = np.random.default_rng(seed)
    words = (rng.random((n, f)) < 0.15).astype(np.int32)
    words[3] = 0  # a node without words: its scale is inf, then 0
    cites = rng.integers(0, n, size=(90, 2)).astype(np.int32)
    labels = rng.integers(0, 4, size=n)
    feats = lib.FloatTensor(words)
    scale = 1 / lib.sum(feats, dim=1)
    scale[scale == float("inf")] = 0
    feats = lib.diag(scale).to_sparse() @ feats
    adj = lib.sparse_coo_tensor(cites.T, lib.ones(len(cites)), (n, n), dtype=lib.int64)
    adj = lib.eye(n) + adj
    deg = lib.sqrt(1 / lib.sum(adj, dim=1))
    deg[deg == float("inf")] = 0
    deg = lib.diag(deg).to_sparse()
    adj = deg @ adj @ deg
    return feats.to_sparse().to(device), adj.to_sparse().to(device), lib.LongTensor(labels).to(device)


def _examples_gcn_losses(lib, device: str, weights: list, steps: int = 5) -> list:
    """pytorch/examples' GCN model and training step: torch.mm with the *sparse* features,
    torch.spmm with the adjacency, Adam with weight decay, NLLLoss on a node mask."""
    feats, adj, labels = _examples_gcn_inputs(lib, device)

    class GraphConv(lib.nn.Module):
        def __init__(self, w, b):
            super().__init__()
            self.kernel = lib.nn.Parameter(lib.tensor(w, dtype=lib.float32))
            self.bias = lib.nn.Parameter(lib.tensor(b, dtype=lib.float32))

        def forward(self, inp, a):
            return lib.spmm(a, lib.mm(inp, self.kernel)) + self.bias

    class GCN(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.gc1, self.gc2 = GraphConv(*weights[:2]), GraphConv(*weights[2:])

        def forward(self, inp, a):
            h = lib.nn.functional.relu(self.gc1(inp, a))
            return lib.nn.functional.log_softmax(self.gc2(h, a), dim=1)

    model = GCN().to(device)
    opt = lib.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    crit = lib.nn.NLLLoss()
    train = lib.arange(0, 30).to(device)
    losses = []
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        loss = crit(model(feats, adj)[train], labels[train])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_pytorch_examples_gcn_program(device):
    rng = np.random.default_rng(7)
    weights = [rng.standard_normal((30, 16)) * 0.3, np.zeros(16), rng.standard_normal((16, 4)) * 0.3, np.zeros(4)]
    ours = _examples_gcn_losses(backprop, device, weights)
    theirs = _examples_gcn_losses(torch, "cpu", weights)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    f, a, _ = _examples_gcn_inputs(backprop, device)
    ft, at, _ = _examples_gcn_inputs(torch, "cpu")
    assert (f._nnz(), a._nnz()) == (ft._nnz(), at._nnz())
    close(a, at)


def test_legacy_sparse_constructors(device):
    i, v = [[0, 1], [1, 0]], [1.0, 2.0]
    s = backprop.sparse.FloatTensor(backprop.tensor(i), backprop.tensor(v), backprop.Size([2, 2]))
    st = torch.sparse.FloatTensor(torch.tensor(i), torch.tensor(v), torch.Size([2, 2]))
    assert s.dtype is backprop.float32 and s.is_sparse
    close(s, st)
    assert backprop.sparse.DoubleTensor(backprop.tensor(i), backprop.tensor(v, dtype=backprop.float64), (2, 2)).dtype is backprop.float64
    e, et = backprop.sparse.FloatTensor(2, 3), torch.sparse.FloatTensor(2, 3)
    assert tuple(e.shape) == tuple(et.shape) and e._nnz() == 0 and e.sparse_dim() == et.sparse_dim()


def test_higher_dims_hybrid_and_empty(device):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 4, 2)) * (rng.random((3, 4, 2)) < 0.5)
    x, xt = backprop.tensor(a, device=device), torch.tensor(a)
    for k in (1, 2, 3):
        s, st = x.to_sparse(k), xt.to_sparse(k)
        assert (s.sparse_dim(), s.dense_dim(), s._nnz()) == (st.sparse_dim(), st.dense_dim(), st._nnz())
        close(s, st)
        close(backprop.sparse.sum(s, 0), torch.sparse.sum(st, 0))
        close(backprop.sparse.sum(s, (1, 2)), torch.sparse.sum(st, (1, 2)))
        if k > 1:
            close(s.transpose(0, 1), st.transpose(0, 1))
        else:
            with pytest.raises(RuntimeError, match="transposed dimensions must be sparse"):
                s.transpose(0, 1)
    # an uncoalesced hybrid tensor coalesces as torch's
    idx, vals = [[1, 0, 1]], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    h = backprop.sparse_coo_tensor(idx, vals, (2, 2), device=device).coalesce()
    ht = torch.sparse_coo_tensor(idx, vals, (2, 2)).coalesce()
    close(h.values(), ht.values())
    # no entries at all
    e = backprop.sparse_coo_tensor(backprop.zeros(2, 0, dtype=backprop.int64), [], (3, 4), device=device)
    et = torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.int64), [], (3, 4))
    assert e._nnz() == 0 and e.is_coalesced() == et.is_coalesced()
    close(e.to_dense(), et.to_dense())
    close(backprop.sparse.mm(e, backprop.ones(4, 2, device=device)), torch.sparse.mm(et, torch.ones(4, 2)))
    assert repr(backprop.sparse_coo_tensor(backprop.zeros(2, 0, dtype=backprop.int64), [], (3, 3))).replace(
        "backprop.", "torch."
    ) == repr(torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.int64), [], (3, 3)))
    # sparse @ sparse is sparse
    s = backprop.sparse_coo_tensor(IDX, VALS, (3, 4), device=device)
    st = torch.sparse_coo_tensor(IDX, VALS, (3, 4))
    p, pt = backprop.sparse.mm(s, s.t()), torch.sparse.mm(st, st.t())
    assert p.is_sparse and pt.is_sparse
    close(p, pt)


def test_functional_forms_and_valuewise_ops(device):
    s, v, st, vt = pair(device)
    d = backprop.ones(3, 4, dtype=backprop.float64, device=device)
    dt = torch.ones(3, 4, dtype=torch.float64)
    cases = [
        (backprop.sum(s), torch.sum(st)),
        (backprop.sum(s, 1), torch.sum(st, 1)),
        (backprop.add(s, s), torch.add(st, st)),
        (backprop.add(d, s), torch.add(dt, st)),
        (backprop.sub(d, s), torch.sub(dt, st)),
        (backprop.mul(s, 3), torch.mul(st, 3)),
        (backprop.div(s, 2), torch.div(st, 2)),
        (backprop.neg(s), torch.neg(st)),
        (backprop.t(s), torch.t(st)),
        (backprop.transpose(s, 0, 1), torch.transpose(st, 0, 1)),
        (backprop.clone(s), torch.clone(st)),
        (s ** 2, st ** 2),
        (s.pow(3), st.pow(3)),
    ] + [(getattr(s, name)(), getattr(st, name)()) for name in ("abs", "sqrt", "tanh", "sin", "relu", "sign", "square", "expm1")]
    for i, (a, at) in enumerate(cases):
        assert a.is_sparse == at.is_sparse, i
        np.testing.assert_allclose(np.nan_to_num(host(a)), np.nan_to_num(host(at)), rtol=1e-6, atol=1e-6, err_msg=str(i))
        if at.is_sparse:
            assert a.is_coalesced() == at.is_coalesced(), i
    z, zt = backprop.zeros_like(s), torch.zeros_like(st)
    assert z.is_sparse and z._nnz() == zt._nnz() == 0 and tuple(z.shape) == (3, 4)
    assert backprop.isnan(s).is_sparse and backprop.isnan(s).dtype is backprop.bool
    assert s.type() == ("backprop.sparse.DoubleTensor" if device == "cpu" else "backprop.cuda.sparse.DoubleTensor")
    for i, (a, at) in enumerate(cases):
        if not at.requires_grad:
            continue
        try:
            (gt,) = torch.autograd.grad((at.to_dense() if at.is_sparse else at).sum(), vt)
        except RuntimeError:  # torch has no backward here (torch.sum(sparse): "expand is unsupported")
            continue
        (g,) = backprop.autograd.grad((a.to_dense() if a.is_sparse else a).sum(), v)
        np.testing.assert_allclose(np.nan_to_num(host(g)), np.nan_to_num(host(gt)), rtol=1e-6, atol=1e-6, err_msg=str(i))


def test_sparse_leaf_mixing_masked_and_dense_gradients(device):
    """A sparse leaf used by torch.sparse.mm (masked gradient) and torch.mm (dense gradient):
    torch's .grad is their (dense) sum; zeroing clears both."""
    s = backprop.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=backprop.float64, device=device, requires_grad=True)
    st = torch.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=torch.float64, requires_grad=True)
    xa = np.random.default_rng(9).standard_normal((4, 2))
    x, xt = backprop.tensor(xa, device=device), torch.tensor(xa)
    for _ in range(2):  # accumulates across backward calls
        (backprop.sparse.mm(s, x).sum() + (backprop.mm(s, x) ** 2).sum()).backward()
        (torch.sparse.mm(st, xt).sum() + (torch.mm(st, xt) ** 2).sum()).backward()
    assert not s.grad.is_sparse and not st.grad.is_sparse
    close(s.grad, st.grad)
    s.grad = None
    assert s.grad is None
    backprop.sparse.mm(s, x).sum().backward()
    assert s.grad.is_sparse


def test_save_load_and_module_buffer(device, tmp_path):
    s, _, st, _ = pair(device, requires_grad=False)
    c = s.coalesce()
    path = tmp_path / "sparse.safetensors"
    backprop.save({"adj": s, "c": c, "nested": [c, 1]}, path)
    back = backprop.load(path)
    for got, want in ((back["adj"], s), (back["c"], c), (back["nested"][0], c)):
        assert got.is_sparse and got.device.type == device and got.is_coalesced() == want.is_coalesced()
        np.testing.assert_array_equal(host(got._indices()), host(want._indices()))
        close(got, want)
    cpu = backprop.load(path, map_location="cpu")["adj"]
    assert cpu.device.type == "cpu" and cpu._indices().device.type == "cpu"
    m = backprop.nn.Module()
    m.register_buffer("adj", s)
    m.to("cpu")
    assert m.adj.is_sparse and m.adj.device.type == "cpu"
    close(m.adj, st)


@pytest.mark.parametrize("how", ["sparse.mm", "mm", "both", "nonleaf"])
def test_autograd_grad_wrt_sparse_tensor(device, how):
    """autograd.grad w.r.t. a sparse tensor returns torch's layout: sparse (masked), or dense when
    torch.mm contributed to a sparse leaf."""
    s = backprop.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=backprop.float64, device=device, requires_grad=True)
    st = torch.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=torch.float64, requires_grad=True)
    if how == "nonleaf":
        s, st = s * 2, st * 2
    xa = np.random.default_rng(10).standard_normal((4, 2))
    x, xt = backprop.tensor(xa, device=device), torch.tensor(xa)

    def loss(lib, a, b):
        if how in ("sparse.mm", "nonleaf"):
            return lib.sparse.mm(a, b).pow(2).sum()
        if how == "mm":
            return lib.mm(a, b).pow(2).sum()
        return lib.sparse.mm(a, b).sum() + lib.mm(a, b).pow(2).sum()

    (g,) = backprop.autograd.grad(loss(backprop, s, x), s)
    (gt,) = torch.autograd.grad(loss(torch, st, xt), st)
    assert g.is_sparse == gt.is_sparse and tuple(g.shape) == tuple(gt.shape)
    if gt.is_sparse:
        assert g._nnz() == gt._nnz()
    close(g, gt)


def test_hooks_see_sparse_gradients(device):
    s = backprop.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=backprop.float64, device=device, requires_grad=True)
    st = torch.sparse_coo_tensor(IDX, VALS, (3, 4), dtype=torch.float64, requires_grad=True)
    seen, seen_t = [], []
    s.register_hook(lambda g: seen.append(g) or g * 3)
    st.register_hook(lambda g: seen_t.append(g) or g * 3)
    xa = np.random.default_rng(11).standard_normal((4, 2))
    backprop.sparse.mm(s, backprop.tensor(xa, device=device)).sum().backward()
    torch.sparse.mm(st, torch.tensor(xa)).sum().backward()
    assert seen[0].is_sparse and seen_t[0].is_sparse and seen[0]._nnz() == seen_t[0]._nnz()
    close(seen[0], seen_t[0])
    close(s.grad, st.grad)
    c = backprop.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2), is_coalesced=True)
    assert c.is_coalesced() and c.indices().shape == (2, 2)


def test_sparse_only_methods_on_strided_tensors():
    x, xt = backprop.ones(2, 3), torch.ones(2, 3)
    assert x.sparse_dim() == xt.sparse_dim() == 0 and x.dense_dim() == xt.dense_dim() == 2
    for name in ("indices", "values", "coalesce", "is_coalesced"):
        with pytest.raises(RuntimeError) as ours:
            getattr(x, name)()
        with pytest.raises(RuntimeError) as theirs:
            getattr(xt, name)()
        assert str(ours.value) == str(theirs.value)
    for name in ("_indices", "_values", "_nnz"):
        with pytest.raises(NotImplementedError):
            getattr(x, name)()
        with pytest.raises(NotImplementedError):
            getattr(xt, name)()
