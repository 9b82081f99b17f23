"""Message passing on graphs: sum / mean / max aggregation and the GCN layer, dense or sparse.

Gilmer et al., "Neural Message Passing for Quantum Chemistry" (arXiv:1704.01212); Kipf & Welling,
"Semi-Supervised Classification with Graph Convolutional Networks" (arXiv:1609.02907).

    message passing:  h_v' = φ(W_self·h_v + W_neigh·AGG_{u ∈ N(v)} h_u),  AGG ∈ {sum, mean, max}
    GCN:              H' = D̂^{-1/2} Â D̂^{-1/2} H W,  Â = A with a self-loop on every node, D̂ its degrees

With sum aggregation, no weights and one-hot inputs, k rounds give A^k (walk counts); with max
aggregation and self-loops on a 0/1 indicator they give reachability within k hops.

A graph is given either as a dense adjacency A (N, N) with A[v, u] = 1 for an edge u → v, or as an
``edge_index`` (2, E) of (source, target) rows; a batch of graphs is one big graph (block-diagonal
adjacency, or concatenated edge lists with offset node ids, plus a ``batch`` vector).

Shapes: N nodes, E edges, F features, G graphs.

Self-loops follow torch_geometric's ``gcn_norm`` (``add_remaining_self_loops``): Â adds a loop of
weight 1 only to the nodes that lack one; an existing loop keeps its weight (Â = A + I on a graph
without loops, as in the paper; A + I would count an existing loop twice).

Departures: written by hand (torch ships no graph layers; torch_geometric is not a dependency);
scatter via ``Tensor.index_add_`` / ``scatter_reduce``; isolated nodes get 0 from mean and max.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deltalab.nn.shapes import check_shape

AGGREGATIONS = ("sum", "mean", "max")


def _check_aggr(aggr: str) -> None:
    if aggr not in AGGREGATIONS:
        raise ValueError(f"aggr must be one of {AGGREGATIONS}, got {aggr!r}")


def _check_edge_index(edge_index: torch.Tensor, num_nodes: int) -> None:
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(f"edge_index has node ids outside [0, {num_nodes})")


def to_dense_adj(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """(2, E) edges (source, target) → A (N, N) with A[target, source] = edge multiplicity."""
    _check_edge_index(edge_index, num_nodes)
    adj = torch.zeros(num_nodes, num_nodes)
    adj.index_put_((edge_index[1], edge_index[0]), torch.ones(edge_index.shape[1]), accumulate=True)
    return adj


def to_edge_index(adj: torch.Tensor) -> torch.Tensor:
    """A (N, N) → (2, E) edges (source, target) for every nonzero A[target, source]."""
    if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency must be square (N, N), got {tuple(adj.shape)}")
    tgt, src = adj.nonzero(as_tuple=True)
    return torch.stack([src, tgt])


def add_self_loops(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Append the N edges v → v (an existing loop is then there twice; see ``add_remaining_self_loops``)."""
    loops = torch.arange(num_nodes, device=edge_index.device).repeat(2, 1)
    return torch.cat([edge_index, loops], dim=1)


def add_remaining_self_loops(
    edge_index: torch.Tensor, num_nodes: int, edge_weight: torch.Tensor | None = None, fill_value: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """One loop v → v per node, as torch_geometric's ``add_remaining_self_loops``: the non-loop edges, then
    the N loops; a node's existing loop keeps its weight (the last one if repeated), the others get
    ``fill_value``. Returns (edge_index (2, E'), edge_weight (E',)); weights default to ones (default dtype)."""
    _check_edge_index(edge_index, num_nodes)
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1], device=edge_index.device)
    elif edge_weight.shape != (edge_index.shape[1],):
        raise ValueError(
            f"edge_weight must have shape ({edge_index.shape[1]},), got {tuple(edge_weight.shape)}"
        )
    is_loop = edge_index[0] == edge_index[1]
    loop_weight = torch.full((num_nodes,), fill_value, dtype=edge_weight.dtype, device=edge_weight.device)
    loop_weight[edge_index[0, is_loop]] = edge_weight[is_loop]
    loops = torch.arange(num_nodes, device=edge_index.device).repeat(2, 1)
    return (
        torch.cat([edge_index[:, ~is_loop], loops], dim=1),
        torch.cat([edge_weight[~is_loop], loop_weight]),
    )


def aggregate(x: torch.Tensor, edge_index: torch.Tensor, aggr: str = "sum") -> torch.Tensor:
    """AGG over in-neighbours: out[v] = AGG_{(u→v)} x[u]. x: (N, F) → (N, F)."""
    _check_aggr(aggr)
    n = x.shape[0]
    _check_edge_index(edge_index, n)
    src, dst = edge_index
    msg = x[src]  # (E, F)
    idx = dst.unsqueeze(-1).expand_as(msg)
    if aggr == "sum":
        return torch.zeros_like(x).index_add_(0, dst, msg)
    if aggr == "mean":
        total = torch.zeros_like(x).index_add_(0, dst, msg)
        deg = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(
            0, dst, torch.ones_like(dst, dtype=x.dtype)
        )
        return total / deg.clamp(min=1).unsqueeze(-1)
    return torch.zeros_like(x).scatter_reduce(0, idx, msg, reduce="amax", include_self=False)


def dense_aggregate(x: torch.Tensor, adj: torch.Tensor, aggr: str = "sum") -> torch.Tensor:
    """The same with a dense adjacency A (N, N): sum = A·x, mean = A·x / deg, max over A's nonzeros."""
    _check_aggr(aggr)
    if adj.shape != (x.shape[0], x.shape[0]):
        raise ValueError(
            f"adjacency must be ({x.shape[0]}, {x.shape[0]}) for x {tuple(x.shape)}, got {tuple(adj.shape)}"
        )
    if aggr == "sum":
        return adj @ x
    if aggr == "mean":
        return (adj @ x) / adj.sum(1, keepdim=True).clamp(min=1)
    masked = torch.where(adj.unsqueeze(-1) > 0, x.unsqueeze(0), torch.full_like(x, -torch.inf).unsqueeze(0))
    out = masked.amax(1)  # (N, F)
    return torch.where(torch.isinf(out), torch.zeros_like(out), out)


def gcn_norm_dense(adj: torch.Tensor) -> torch.Tensor:
    """D̂^{-1/2} Â D̂^{-1/2} for a dense A (N, N); Â sets the zero diagonal entries of A to 1 (missing
    self-loops only, as torch_geometric's ``gcn_norm``); in A's dtype."""
    diag = adj.diagonal()
    a = adj + torch.diag(torch.where(diag == 0, torch.ones_like(diag), torch.zeros_like(diag)))
    d = a.sum(1).rsqrt()
    return d.unsqueeze(1) * a * d.unsqueeze(0)


def gcn_norm_sparse(
    edge_index: torch.Tensor,
    num_nodes: int,
    edge_weight: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The same normalized adjacency as a sparse COO tensor (N, N), from ``edge_index`` (and optional
    ``edge_weight`` (E,)); the weights are in ``edge_weight``'s dtype, else ``dtype``, else the default
    dtype (torch_geometric's ``gcn_norm`` signature)."""
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1], dtype=dtype, device=edge_index.device)
    ei, w = add_remaining_self_loops(edge_index, num_nodes, edge_weight)
    src, dst = ei
    deg = torch.zeros(num_nodes, dtype=w.dtype, device=w.device).index_add_(0, dst, w)
    w = deg[dst].rsqrt() * w * deg[src].rsqrt()
    return torch.sparse_coo_tensor(
        torch.stack([dst, src]), w, (num_nodes, num_nodes), check_invariants=True
    ).coalesce()


class GraphConv(nn.Module):
    """h_v' = W_self·h_v + W_neigh·AGG_{u→v} h_u (no activation; add one outside).

    forward(x (N, F_in), graph) with graph an integer ``edge_index`` (2, E) or a float dense A (N, N)
    → (N, F_out).
    """

    def __init__(self, in_features: int, out_features: int, aggr: str = "sum", bias: bool = True) -> None:
        super().__init__()
        _check_aggr(aggr)
        self.aggr = aggr
        self.lin_self = nn.Linear(in_features, out_features, bias=bias)
        self.lin_neigh = nn.Linear(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        check_shape(x, "node features x", ("N", self.lin_self.in_features))
        # a float tensor is a dense adjacency, an integer one an edge list
        agg = (
            dense_aggregate(x, graph, self.aggr)
            if graph.is_floating_point()
            else aggregate(x, graph, self.aggr)
        )
        return self.lin_self(x) + self.lin_neigh(agg)


class GCNConv(nn.Module):
    """Kipf & Welling's layer: Â·X·W with Â the normalized adjacency (dense tensor or sparse COO).

    W starts Glorot-uniform and the bias at zero, as in the paper's code and torch_geometric's ``GCNConv``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.lin = nn.Linear(in_features, out_features, bias=False)
        nn.init.xavier_uniform_(self.lin.weight)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor, adj_norm: torch.Tensor) -> torch.Tensor:
        check_shape(x, "node features x", ("N", self.lin.in_features))
        check_shape(adj_norm, "normalized adjacency", (x.shape[0], x.shape[0]))
        h = self.lin(x)  # (N, F_out)
        out = torch.sparse.mm(adj_norm, h) if adj_norm.is_sparse else adj_norm @ h
        return out + self.bias if self.bias is not None else out


class GCN(nn.Module):
    """GCNConv → ReLU → dropout → … → GCNConv: node logits (N, out_features) from features (N, F)."""

    def __init__(
        self, in_features: int, hidden_dims: Sequence[int], out_features: int, dropout: float = 0.5
    ) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        widths = [in_features, *hidden_dims, out_features]
        self.layers = nn.ModuleList(GCNConv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, adj_norm: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(self.dropout(x), adj_norm)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def batch_graphs(
    xs: Sequence[torch.Tensor], edge_indices: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Many graphs as one: (x (ΣN, F), edge_index (2, ΣE) with offset ids, batch (ΣN,) graph ids)."""
    if len(xs) != len(edge_indices):
        raise ValueError(f"got {len(xs)} feature tensors but {len(edge_indices)} edge lists")
    offsets, total = [], 0
    for x in xs:
        offsets.append(total)
        total += x.shape[0]
    ei = torch.cat([e + o for e, o in zip(edge_indices, offsets)], dim=1)
    batch = torch.cat([torch.full((x.shape[0],), g, dtype=torch.long) for g, x in enumerate(xs)])
    return torch.cat(list(xs)), ei, batch


def block_diag_adjacency(adjs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Many dense adjacencies as one block-diagonal (ΣN, ΣN)."""
    return torch.block_diag(*adjs)


def global_mean_pool(x: torch.Tensor, batch: torch.Tensor, num_graphs: int | None = None) -> torch.Tensor:
    """Per-graph mean of node features: (ΣN, F), batch (ΣN,) → (G, F)."""
    g = int(batch.max()) + 1 if num_graphs is None else num_graphs
    total = torch.zeros(g, x.shape[1], dtype=x.dtype).index_add_(0, batch, x)
    count = torch.zeros(g, dtype=x.dtype).index_add_(0, batch, torch.ones_like(batch, dtype=x.dtype))
    return total / count.clamp(min=1).unsqueeze(-1)
