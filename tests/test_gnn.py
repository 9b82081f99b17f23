"""Message passing: sparse vs dense aggregation, walk counts, GCN norms, batching, graphs data."""

import pytest
import torch

from deltalab.data.graphs import karate_club, labelled_nodes, random_graph, stochastic_block_model
from deltalab.experiments.gnn import equivariance_error, reachability_mismatches, walk_count_error
from deltalab.nn.gnn import (
    GCN,
    GCNConv,
    GraphConv,
    add_remaining_self_loops,
    aggregate,
    batch_graphs,
    block_diag_adjacency,
    dense_aggregate,
    gcn_norm_dense,
    gcn_norm_sparse,
    global_mean_pool,
    to_dense_adj,
    to_edge_index,
)


@pytest.fixture
def graph():
    return random_graph(12, 0.3, seed=3)


@pytest.mark.parametrize("aggr", ["sum", "mean", "max"])
def test_sparse_equals_dense(graph, aggr):
    x = torch.randn(graph.num_nodes, 4)
    adj = to_dense_adj(graph.edge_index, graph.num_nodes)
    torch.testing.assert_close(aggregate(x, graph.edge_index, aggr), dense_aggregate(x, adj, aggr))


def test_mean_and_max_by_loops(graph):
    x = torch.randn(graph.num_nodes, 3)
    src, dst = graph.edge_index
    mean, mx = aggregate(x, graph.edge_index, "mean"), aggregate(x, graph.edge_index, "max")
    for v in range(graph.num_nodes):
        nb = src[dst == v]
        if len(nb):
            torch.testing.assert_close(mean[v], x[nb].mean(0))
            torch.testing.assert_close(mx[v], x[nb].amax(0))


def test_walks_reachability_equivariance(graph):
    assert walk_count_error(graph, 4) == 0.0
    assert reachability_mismatches(graph, 3) == 0
    assert equivariance_error(graph, 0) < 1e-6


def test_gcn_norm_dense_equals_sparse(graph):
    adj = to_dense_adj(graph.edge_index, graph.num_nodes)
    torch.testing.assert_close(
        gcn_norm_sparse(graph.edge_index, graph.num_nodes).to_dense(), gcn_norm_dense(adj)
    )
    layer = GCNConv(graph.num_nodes, 3)
    torch.testing.assert_close(
        layer(graph.x, gcn_norm_dense(adj)),
        layer(graph.x, gcn_norm_sparse(graph.edge_index, graph.num_nodes)),
    )


def test_gcn_norm_adds_only_missing_self_loops():
    # path 0 - 1 - 2 with a loop already on node 0: Â has one loop per node (torch_geometric's
    # gcn_norm / add_remaining_self_loops), so degrees are (2, 3, 2), not (3, 3, 2) as with A + I
    ei = torch.tensor([[0, 1, 1, 2, 0], [1, 0, 2, 1, 0]])
    a_hat = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    d = torch.tensor([2.0, 3.0, 2.0]).rsqrt()
    expected = d[:, None] * a_hat * d[None, :]
    torch.testing.assert_close(gcn_norm_dense(to_dense_adj(ei, 3)), expected)
    torch.testing.assert_close(gcn_norm_sparse(ei, 3).to_dense(), expected)
    loops_ei, w = add_remaining_self_loops(ei, 3, torch.tensor([1.0, 1.0, 1.0, 1.0, 0.5]))
    assert loops_ei[:, -3:].tolist() == [[0, 1, 2], [0, 1, 2]] and w[-3:].tolist() == [0.5, 1.0, 1.0]
    assert ((loops_ei[0] == loops_ei[1]).sum()) == 3  # one loop per node, the old one dropped


def test_gcn_norm_follows_dtype(graph):
    n = graph.num_nodes
    adj64 = to_dense_adj(graph.edge_index, n).double()
    assert gcn_norm_sparse(graph.edge_index, n).dtype == torch.get_default_dtype()
    norm64 = gcn_norm_sparse(graph.edge_index, n, dtype=torch.float64)
    assert norm64.dtype == torch.float64 and gcn_norm_dense(adj64).dtype == torch.float64
    weighted = gcn_norm_sparse(
        graph.edge_index, n, edge_weight=torch.ones(graph.edge_index.shape[1]).double()
    )
    assert weighted.dtype == torch.float64
    torch.testing.assert_close(norm64.to_dense(), gcn_norm_dense(adj64), rtol=0, atol=1e-15)


def test_batching_equals_separate():
    g1, g2 = random_graph(5, 0.5, seed=1), random_graph(7, 0.4, seed=2)
    x1, x2 = torch.randn(5, 3), torch.randn(7, 3)
    x, ei, batch = batch_graphs([x1, x2], [g1.edge_index, g2.edge_index])
    layer = GraphConv(3, 2, "mean")
    out = layer(x, ei)
    torch.testing.assert_close(out[:5], layer(x1, g1.edge_index))
    torch.testing.assert_close(out[5:], layer(x2, g2.edge_index))
    adj = block_diag_adjacency([to_dense_adj(g1.edge_index, 5), to_dense_adj(g2.edge_index, 7)])
    torch.testing.assert_close(layer(x, adj), out)
    pooled = global_mean_pool(out, batch)
    torch.testing.assert_close(pooled[1], out[5:].mean(0))


def test_edge_index_round_trip(graph):
    adj = to_dense_adj(graph.edge_index, graph.num_nodes)
    torch.testing.assert_close(to_dense_adj(to_edge_index(adj), graph.num_nodes), adj)


def test_graph_data():
    k = karate_club()
    assert k.num_nodes == 34 and k.edge_index.shape == (2, 156) and k.num_classes == 2
    s = stochastic_block_model((10, 12), 0.5, 0.05, seed=0)
    assert s.num_nodes == 22 and s.y.tolist() == [0] * 10 + [1] * 12
    mask = labelled_nodes(s.y, 3, seed=0)
    assert mask.sum() == 6 and mask[:10].sum() == 3
    out = GCN(22, [8], 2)(s.x, gcn_norm_dense(to_dense_adj(s.edge_index, 22)))
    assert out.shape == (22, 2)


def test_bad_inputs_raise(graph):
    with pytest.raises(ValueError, match="'min'"):
        aggregate(graph.x, graph.edge_index, "min")
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        aggregate(graph.x, graph.edge_index.T, "sum")
    with pytest.raises(ValueError, match="p_in"):
        stochastic_block_model((3, 3), 1.5, 0.1)
