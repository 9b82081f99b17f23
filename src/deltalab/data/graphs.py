"""Small graphs for node classification and message-passing checks, built offline with networkx.

- Zachary's karate club (networkx ships it): 34 members, labels = the club each joined after the
  split ("Mr. Hi" → 0, "Officer" → 1).
- A stochastic block model: ``sizes`` blocks, edge probability ``p_in`` inside a block and
  ``p_out`` between blocks; labels = blocks.
- Erdős–Rényi random graphs G(n, p).

Every graph is undirected and returned with both edge directions in ``edge_index`` (2, E).
Node features default to the identity (one-hot node ids: the featureless setting of Kipf & Welling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class Graph:
    """x: (N, F) node features; edge_index: (2, E) (source, target), both directions; y: (N,) labels."""

    x: torch.Tensor
    edge_index: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str = ""

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])


def _from_networkx(g: object, labels: torch.Tensor, num_classes: int, name: str) -> Graph:
    import networkx as nx

    assert isinstance(g, nx.Graph)
    edges = torch.tensor(list(g.edges()), dtype=torch.long).reshape(-1, 2).T  # (2, E/2)
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    n = g.number_of_nodes()
    return Graph(torch.eye(n), edge_index, labels, num_classes, name)


def karate_club() -> Graph:
    """Zachary's karate club: 34 nodes, 78 undirected edges, 2 classes (the club after the split)."""
    import networkx as nx

    g = nx.karate_club_graph()
    y = torch.tensor([0 if g.nodes[v]["club"] == "Mr. Hi" else 1 for v in range(g.number_of_nodes())])
    return _from_networkx(g, y, 2, "karate-club")


def stochastic_block_model(
    sizes: Sequence[int] = (40, 40, 40), p_in: float = 0.2, p_out: float = 0.02, seed: int = 0
) -> Graph:
    """An SBM with the given block sizes; labels are the blocks."""
    import networkx as nx

    for name, p in (("p_in", p_in), ("p_out", p_out)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive block sizes, got {sizes}")
    k = len(sizes)
    probs = [[p_in if i == j else p_out for j in range(k)] for i in range(k)]
    g = nx.stochastic_block_model(list(sizes), probs, seed=seed)
    y = torch.cat([torch.full((s,), b, dtype=torch.long) for b, s in enumerate(sizes)])
    return _from_networkx(g, y, k, "sbm")


def random_graph(num_nodes: int, p: float, seed: int = 0) -> Graph:
    """An Erdős–Rényi G(n, p) graph (labels all 0)."""
    import networkx as nx

    if num_nodes < 1 or not 0 <= p <= 1:
        raise ValueError(f"need num_nodes >= 1 and p in [0, 1], got {num_nodes}, {p}")
    g = nx.gnp_random_graph(num_nodes, p, seed=seed)
    return _from_networkx(g, torch.zeros(num_nodes, dtype=torch.long), 1, "gnp")


def labelled_nodes(y: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """A boolean mask (N,) choosing ``per_class`` random nodes of each class (the few labels)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(y), dtype=torch.bool)
    for c in y.unique():
        idx = (y == c).nonzero().squeeze(1)
        if len(idx) < per_class:
            raise ValueError(f"class {int(c)} has {len(idx)} nodes, fewer than per_class={per_class}")
        mask[idx[torch.randperm(len(idx), generator=g)[:per_class]]] = True
    return mask
