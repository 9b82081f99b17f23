"""Graph neural networks (chapter A's `gnn` claim): message passing counts walks, max-aggregation
computes reachability, layers are permutation equivariant, and a GCN classifies nodes from few labels."""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from deltalab.data.graphs import Graph, karate_club, labelled_nodes, random_graph, stochastic_block_model
from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.nn.gnn import (
    GCN,
    GCNConv,
    GraphConv,
    add_self_loops,
    aggregate,
    dense_aggregate,
    gcn_norm_dense,
    gcn_norm_sparse,
    to_dense_adj,
)
from deltalab.train.steps import fit_steps


def walk_count_error(graph: Graph, k_max: int) -> float:
    """max |H_k − A^k| over k ≤ k_max, H_k = k rounds of weightless sum aggregation from one-hot inputs."""
    a = to_dense_adj(graph.edge_index, graph.num_nodes).double()
    h_sparse = h_dense = torch.eye(graph.num_nodes, dtype=torch.float64)
    err = 0.0
    for k in range(1, k_max + 1):
        h_sparse = aggregate(h_sparse, graph.edge_index, "sum")
        h_dense = dense_aggregate(h_dense, a, "sum")
        ak = torch.linalg.matrix_power(a, k)
        err = max(err, (h_sparse - ak).abs().max().item(), (h_dense - ak).abs().max().item())
    return err


def reachability_mismatches(graph: Graph, k_max: int) -> int:
    """Entries where k rounds of max aggregation (with self-loops) disagree with BFS within k hops."""
    import networkx as nx

    g = nx.Graph(graph.edge_index.T.tolist())
    g.add_nodes_from(range(graph.num_nodes))
    ei = add_self_loops(graph.edge_index, graph.num_nodes)
    h = torch.eye(graph.num_nodes)
    bad = 0
    for k in range(1, k_max + 1):
        h = aggregate(h, ei, "max")  # h[v, u] = 1 iff u reaches v within k hops
        for v in range(graph.num_nodes):
            near = nx.single_source_shortest_path_length(g, v, cutoff=k)
            truth = torch.zeros(graph.num_nodes)
            truth[list(near)] = 1.0
            bad += int((h[v] != truth).sum())
    return bad


def equivariance_error(graph: Graph, seed: int) -> float:
    """max |f(PX, PAPᵀ) − P·f(X, A)| over sum / mean / max GraphConv and GCN layers (float32)."""
    torch.manual_seed(seed)
    n = graph.num_nodes
    x = torch.randn(n, 8)
    perm = torch.randperm(n)
    inv = torch.argsort(perm)
    ei_perm = inv[graph.edge_index]  # node v becomes inv[v]
    adj = to_dense_adj(graph.edge_index, n)
    adj_perm = adj[perm][:, perm]
    err = 0.0
    for aggr in ("sum", "mean", "max"):
        layer = GraphConv(8, 5, aggr)
        err = max(err, (layer(x[perm], ei_perm) - layer(x, graph.edge_index)[perm]).abs().max().item())
        err = max(err, (layer(x[perm], adj_perm) - layer(x, adj)[perm]).abs().max().item())
    gcn = GCNConv(8, 5)
    err = max(
        err, (gcn(x[perm], gcn_norm_dense(adj_perm)) - gcn(x, gcn_norm_dense(adj))[perm]).abs().max().item()
    )
    err = max(
        err,
        (gcn(x[perm], gcn_norm_sparse(ei_perm, n)) - gcn(x, gcn_norm_sparse(graph.edge_index, n))[perm])
        .abs()
        .max()
        .item(),
    )
    return err


def train_gcn(
    graph: Graph, adj: torch.Tensor, mask: torch.Tensor, seed: int, epochs: int = 200
) -> torch.Tensor:
    """Kipf & Welling's semi-supervised recipe: a 2-layer GCN (16 hidden, dropout 0.5, Glorot init),
    full-batch Adam (lr 0.01) on the labelled nodes (``mask``) for 200 epochs, L2 5e-4 on the first
    layer only; predicted classes (N,)."""
    torch.manual_seed(seed)
    model = GCN(graph.x.shape[1], [16], graph.num_classes, dropout=0.5)
    first, rest = model.layers[0], model.layers[1:]
    opt = torch.optim.Adam(
        [{"params": first.parameters(), "weight_decay": 5e-4}, {"params": rest.parameters()}], lr=0.01
    )
    fit_steps(lambda: F.cross_entropy(model(graph.x, adj)[mask], graph.y[mask]), opt, epochs)
    model.eval()
    with torch.no_grad():
        return model(graph.x, adj).argmax(-1)


def node_classification(
    graph: Graph, per_class: int, draws: int, seed: int, epochs: int = 200
) -> list[float]:
    """Accuracy on all the unlabelled nodes of a 2-layer GCN trained on ``per_class`` labels per class,
    one value per random draw of the labelled nodes (and of the initialization); the draws of seed s
    are s·draws … s·draws + draws − 1, so different seeds never share a draw."""
    adj = gcn_norm_dense(to_dense_adj(graph.edge_index, graph.num_nodes))  # small graphs: dense is faster
    accs = []
    for draw in range(seed * draws, (seed + 1) * draws):
        mask = labelled_nodes(graph.y, per_class, seed=draw)
        pred = train_gcn(graph, adj, mask, draw, epochs)
        accs.append((pred[~mask] == graph.y[~mask]).float().mean().item())
    return accs


@experiment(
    chapter="A",
    title="Message passing: walks, reachability, equivariance, node classification",
    claim="message passing with sum aggregation on one-hot inputs counts length-k walks (A^k); with max "
    "aggregation and self-loops it computes reachability within k hops; permutation equivariant; "
    "node classification",
)
def gnn(ctx: Context):
    """`deltalab run gnn` — claim gnn. Expected: k rounds of sum aggregation from one-hot inputs equal A^k
    exactly (float64, k ≤ 5, sparse and dense); max aggregation with self-loops equals BFS reachability
    within k hops; sum/mean/max GraphConv and GCN layers are permutation equivariant to 1e-6; a 2-layer
    GCN with identity features (Kipf & Welling's recipe) classifies the unlabelled nodes of the karate
    club (2 labels per club; median over 40 label draws, 100 in full) and of a 3-block SBM (3 labels
    per block; mean over 5 draws, 20 in full) at >= 90%. Measured at seeds 0-4: karate median
    93.3 / 96.7 / 95.0 / 96.7 / 93.3% (means 93.2 / 94.5 / 93.2 / 94.0 / 91.4%: a few draws
    with unrepresentative labels score ~70%), SBM mean 95.1 / 97.3 / 97.7 / 99.3 / 98.9%.
    Quick profile: ~10 s."""
    rg = random_graph(15, 0.25, seed=ctx.seed)
    walk_err = walk_count_error(rg, 5)
    reach_bad = reachability_mismatches(rg, 5)
    equi = equivariance_error(rg, ctx.seed)
    # one karate draw scores 63-100% (sd ~5.6 points): the errors are mostly nodes 8 and 2, which sit
    # between the clubs, plus a few draws whose 4 labels are unrepresentative (~70%); the bar takes the
    # median over many draws (cheap: 34 nodes), the typical draw, which that left tail does not move
    karate_draws, draws = ctx.pick(quick=40, full=100), ctx.pick(quick=5, full=20)
    karate = node_classification(karate_club(), 2, karate_draws, ctx.seed)
    sbm_graph = stochastic_block_model((40, 40, 40), 0.2, 0.02, seed=ctx.seed)
    sbm = node_classification(sbm_graph, 3, draws, ctx.seed)
    ctx.log(f"karate {karate}, sbm {sbm}")

    import networkx as nx

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    kc = karate_club()
    g = nx.karate_club_graph()
    pos = nx.spring_layout(g, seed=0)
    adj = gcn_norm_dense(to_dense_adj(kc.edge_index, kc.num_nodes))
    first_draw = ctx.seed * karate_draws  # the first draw of node_classification above
    mask = labelled_nodes(kc.y, 2, seed=first_draw)
    pred = train_gcn(kc, adj, mask, first_draw)
    nx.draw_networkx(
        g,
        pos,
        ax=axes[0],
        node_color=pred.tolist(),
        cmap="coolwarm",
        node_size=120,
        font_size=6,
        edgecolors=["k" if m else "none" for m in mask.tolist()],
    )
    axes[0].set_title("Karate club: GCN prediction (outlined: labelled)")
    axes[1].bar(["karate (median)", "SBM (mean)"], [100 * statistics.median(karate), 100 * sum(sbm) / draws])
    axes[1].axhline(90, color="k", ls="--")
    axes[1].set(
        ylim=(50, 100),
        ylabel="accuracy on unlabelled nodes (%)",
        title=f"over {karate_draws} / {draws} label draws",
    )
    a = to_dense_adj(rg.edge_index, rg.num_nodes)
    axes[2].imshow(torch.linalg.matrix_power(a, 3).numpy(), cmap="viridis")
    axes[2].set_title("A³ = 3 rounds of sum aggregation")
    ctx.savefig(fig)
    metrics = {
        "walk_count_max_error": walk_err,
        "reachability_mismatches": reach_bad,
        "equivariance_max_error": equi,
        "karate_acc_median": statistics.median(karate),
        "karate_acc_mean": sum(karate) / karate_draws,
        "karate_acc_min": min(karate),
        "sbm_acc_mean": sum(sbm) / draws,
        "sbm_acc_min": min(sbm),
    }
    return ctx.result(
        metrics,
        [
            Bar("walk_count_max_error", "==", 0.0),
            Bar("reachability_mismatches", "==", 0),
            Bar("equivariance_max_error", "<=", 1e-6),
            Bar("karate_acc_median", ">=", 0.9),
            Bar("sbm_acc_mean", ">=", 0.9),
        ],
        bar="exact A^k and reachability; equivariance to 1e-6; >= 90% on karate club (2 labels per club, "
        "median over label draws) and an SBM (3 labels per block, mean over label draws)",
        config={
            "random_graph": "G(15, 0.25)",
            "k_max": 5,
            "karate_draws": karate_draws,
            "sbm_draws": draws,
            "gcn": "2 layers, 16 hidden, dropout 0.5",
            "optimizer": "adam lr 0.01, L2 5e-4 on the first layer, 200 epochs, Glorot init",
            "sbm": "3x40, p_in 0.2, p_out 0.02",
        },
    )
