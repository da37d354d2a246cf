"""The pattern of pytorch/examples gcn: a two-layer graph convolutional network whose symmetric
normalized adjacency is a sparse COO tensor multiplied into the node features with torch.sparse.mm."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class GraphConv(nn.Module):
    def __init__(self, input_dim, output_dim, use_bias=False):
        super(GraphConv, self).__init__()
        self.kernel = nn.Parameter(torch.Tensor(input_dim, output_dim))
        nn.init.xavier_normal_(self.kernel)
        self.bias = None
        if use_bias:
            self.bias = nn.Parameter(torch.Tensor(output_dim))
            nn.init.zeros_(self.bias)

    def forward(self, input_tensor, adj_mat):
        support = torch.mm(input_tensor, self.kernel)
        output = torch.spmm(adj_mat, support)
        if self.bias is not None:
            output = output + self.bias
        return output


class GCN(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim, use_bias=True, dropout_p=0.0):
        super(GCN, self).__init__()
        self.gc1 = GraphConv(input_dim, hidden_dim, use_bias=use_bias)
        self.gc2 = GraphConv(hidden_dim, output_dim, use_bias=use_bias)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input_tensor, adj_mat):
        x = self.gc1(input_tensor, adj_mat)
        x = F.relu(x)
        x = self.dropout(x)
        x = self.gc2(x, adj_mat)
        return F.log_softmax(x, dim=1)


def load_graph(n=30, feats=12, classes=3, seed=6):
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, n, size=(2, 80))
    labels = torch.from_numpy(rng.integers(0, classes, size=n))
    features = torch.from_numpy(rng.random((n, feats)).astype(np.float32))
    features = features / features.sum(1, keepdim=True)
    edge_index = torch.from_numpy(edges)
    values = torch.ones(edge_index.size(1))
    adj = torch.sparse_coo_tensor(edge_index, values, (n, n))
    adj = adj + adj.t()  # duplicate edges sum
    adj = adj + torch.eye(n).to_sparse()
    adj = adj.coalesce()
    deg = torch.sparse.sum(adj, dim=1).to_dense()
    d_inv_sqrt = deg.pow(-0.5)
    idx = adj.indices()
    norm_values = d_inv_sqrt[idx[0]] * adj.values() * d_inv_sqrt[idx[1]]
    adj = torch.sparse_coo_tensor(idx, norm_values, (n, n))
    return features, labels, adj


def main(reinit, epochs=5):
    features, labels, adj = load_graph()
    idx_train = torch.arange(0, 20)
    idx_test = torch.arange(20, 30)
    model = GCN(features.shape[1], 16, int(labels.max()) + 1)
    reinit(model)
    optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    criterion = nn.NLLLoss()
    losses = []
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        output = model(features, adj)
        loss = criterion(output[idx_train], labels[idx_train])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        output = model(features, adj)
        test_loss = criterion(output[idx_test], labels[idx_test]).item()
        acc = output[idx_test].argmax(1).eq(labels[idx_test]).float().mean().item()
    dense_adj = adj.to_dense()
    return {"losses": losses, "test_loss": test_loss, "acc": acc, "adj_sum": dense_adj.sum().item(),
            "nnz": adj.coalesce()._nnz(), "is_sparse": adj.is_sparse}
