"""Subgraph clients as in FED-PUB's data generators (host NumPy, built once).

The global graph is reduced to its largest connected component, its nodes split at random into
train / test / val (ratio_train, then half of the rest each: 20 / 40 / 40 in the paper's code),
then split into clients:

- disjoint:    METIS into K parts; client k holds the subgraph induced by part k.
- overlapping: METIS into K / c communities (c = clients_per_community, 5 in the paper); each of
               the c clients of a community holds the subgraph induced by a uniformly random half
               of the community's nodes, so clients of one community overlap.

Edges between clients are lost (that is the subgraph-FL setting). Every client graph is padded to
the same node and edge counts so that the clients stack on a leading axis and one compiled round
serves all of them (vmapped).
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lib.config import ConfigError
from lib.graph import graph as graph_lib
from lib.graph.norm import build_adjacency
from lib.graph.sampling import metis_partition

MODES = ("disjoint", "overlapping")


class EmptyClientError(ConfigError):
    """A client would hold no nodes or no training nodes (too many clients for the graph)."""


@dataclasses.dataclass
class Clients:
    x: np.ndarray          # [K, N, F] float32 node features (0 on padding)
    y: np.ndarray          # [K, N] int32 labels
    train: np.ndarray      # [K, N] bool
    val: np.ndarray        # [K, N] bool
    test: np.ndarray       # [K, N] bool
    adj: object            # Adjacency with [K, ...] leaves (GCN-normalised, self loops)
    nodes: list            # K arrays: global (LCC) node ids of each client
    num_classes: int
    info: dict


def largest_component(g: graph_lib.Graph) -> np.ndarray:
    """Node ids (sorted) of the largest connected component of a host graph."""
    n = int(np.asarray(g.node_mask).sum())
    s, r = graph_lib.unpad_edges(g)
    a = coo_matrix((np.ones(s.size), (s, r)), shape=(n, n))
    _, comp = connected_components(a, directed=False)
    return np.nonzero(comp == np.argmax(np.bincount(comp)))[0]


def random_split(n: int, ratio_train: float, rng: np.random.Generator):
    """Masks: round(n * ratio_train) train, round(n * (1 - ratio_train) / 2) test, the rest val."""
    perm = rng.permutation(n)
    n_train = int(round(n * ratio_train))
    n_test = int(round(n * (1 - ratio_train) / 2))
    masks = [np.zeros(n, bool) for _ in range(3)]
    masks[0][perm[:n_train]] = True
    masks[2][perm[n_train:n_train + n_test]] = True
    masks[1][perm[n_train + n_test:]] = True
    return masks  # train, val, test


def check_counts(num_clients: int, mode: str, clients_per_community: int, num_nodes: int) -> None:
    """Named errors before METIS runs: too many clients, an uneven community split."""
    if mode not in MODES:
        raise ConfigError(f"config.mode={mode!r} is not allowed; choose one of {list(MODES)}")
    if not isinstance(num_clients, int) or num_clients < 1:
        raise ConfigError(f"config.num_clients={num_clients!r} must be a positive integer")
    parts = num_clients
    if mode == "overlapping":
        if clients_per_community < 1 or num_clients % clients_per_community:
            raise ConfigError(f"config.num_clients={num_clients} must be a multiple of "
                              f"config.clients_per_community={clients_per_community} (mode='overlapping')")
        parts = num_clients // clients_per_community
        if num_nodes < 2 * parts:
            raise EmptyClientError(f"config.num_clients={num_clients}: {parts} communities of a "
                                   f"{num_nodes}-node graph leave a client without nodes")
    if num_nodes < parts:
        raise EmptyClientError(f"config.num_clients={num_clients} > {num_nodes} nodes of the graph "
                               "(largest connected component): a client would be empty")


def assign(g: graph_lib.Graph, num_clients: int, mode: str, clients_per_community: int,
           seed: int) -> list[np.ndarray]:
    """Each client's node ids in g (sorted); raises EmptyClientError for an empty client."""
    n = int(np.asarray(g.node_mask).sum())
    check_counts(num_clients, mode, clients_per_community, n)
    if mode == "disjoint":
        parts = metis_partition(g, num_clients, seed=seed)
        out = [np.nonzero(parts == k)[0] for k in range(num_clients)]
    else:
        comms = num_clients // clients_per_community
        parts = metis_partition(g, comms, seed=seed)
        rng = np.random.default_rng([seed, 1])
        out = []
        for c in range(comms):
            members = np.nonzero(parts == c)[0]
            for _ in range(clients_per_community):
                out.append(np.sort(rng.choice(members, members.size // 2, replace=False)))
    for k, nodes in enumerate(out):
        if nodes.size == 0:
            raise EmptyClientError(f"client {k} of {num_clients} ({mode}) holds no nodes; use fewer clients")
    return out


def build(g: graph_lib.Graph, *, num_clients: int, mode: str, clients_per_community: int = 5,
          ratio_train: float = 0.2, seed: int = 0) -> Clients:
    """LCC -> random split -> client subgraphs, padded and stacked."""
    lcc = largest_component(g)
    g = graph_lib.subgraph(g, lcc)
    n = lcc.size
    check_counts(num_clients, mode, clients_per_community, n)
    train, val, test = random_split(n, ratio_train, np.random.default_rng([seed, 0]))
    g = g.replace(train_mask=_pad_mask(train, g.num_nodes), val_mask=_pad_mask(val, g.num_nodes),
                  test_mask=_pad_mask(test, g.num_nodes))
    nodes = assign(g, num_clients, mode, clients_per_community, seed)
    n_pad = graph_lib.bucket_size(max(v.size for v in nodes))
    subs = [graph_lib.subgraph(g, v, num_nodes_pad=n_pad) for v in nodes]
    for k, sg in enumerate(subs):
        if not np.asarray(sg.train_mask).any():
            raise EmptyClientError(f"client {k} of {num_clients} ({mode}, {nodes[k].size} nodes) has no training "
                                   "node; use fewer clients or a larger ratio_train")
    # one edge bucket for all clients: real edges plus one self loop per node
    e_pad = graph_lib.bucket_size(max(int(np.asarray(sg.edge_mask).sum()) + v.size for sg, v in zip(subs, nodes)))
    adjs = [build_adjacency(sg, "gcn", num_edges_pad=e_pad) for sg in subs]
    if len({a.symmetric for a in adjs}) != 1:  # a static field: must agree to stack
        adjs = [a.replace(symmetric=False) for a in adjs]
    real = np.asarray(g.node_mask)
    num_classes = int(np.asarray(g.y)[real].max()) + 1
    stack = lambda f: np.stack([np.asarray(getattr(sg, f)) for sg in subs])  # noqa: E731
    info = {"num_nodes": int(n), "num_features": int(np.asarray(g.x).shape[1]), "num_classes": num_classes,
            "client_nodes": [int(v.size) for v in nodes],
            "client_train": [int(np.asarray(sg.train_mask).sum()) for sg in subs],
            "client_test": [int(np.asarray(sg.test_mask).sum()) for sg in subs],
            "client_edges": [int(np.asarray(sg.edge_mask).sum()) for sg in subs],
            "lost_edges": int(np.asarray(g.edge_mask).sum()) - sum(int(np.asarray(sg.edge_mask).sum())
                                                                   for sg in subs) if mode == "disjoint" else None}
    return Clients(x=stack("x").astype(np.float32), y=stack("y").astype(np.int32), train=stack("train_mask"),
                   val=stack("val_mask"), test=stack("test_mask"),
                   adj=jax.tree.map(lambda *a: np.stack(a), *adjs), nodes=nodes, num_classes=num_classes,
                   info=info)


def _pad_mask(m: np.ndarray, n_pad: int) -> np.ndarray:
    out = np.zeros(n_pad, bool)
    out[:m.size] = m
    return out


def proxy_graph(num_blocks: int, num_features: int, seed: int, block_size: int = 100, p_in: float = 0.1):
    """The server's proxy input: a random partition graph (num_blocks blocks of block_size nodes,
    edge probability p_in inside a block, none between blocks) with N(0, 1) features, drawn once
    from `seed`. Returns (x [n_pad, F] float32, node mask [n_pad], GCN-normalised Adjacency)."""
    rng = np.random.default_rng([seed, 7])
    n = num_blocks * block_size
    iu = np.triu_indices(block_size, 1)
    s, r = [], []
    for b in range(num_blocks):
        keep = rng.random(iu[0].size) < p_in
        s.append(iu[0][keep] + b * block_size); r.append(iu[1][keep] + b * block_size)
    s, r = graph_lib.to_undirected(np.concatenate(s), np.concatenate(r), n)
    x = rng.standard_normal((n, num_features)).astype(np.float32)
    g = graph_lib.make_graph(x, np.zeros(n, np.int32), s, r, name="proxy")
    return np.asarray(g.x), np.asarray(g.node_mask), build_adjacency(g, "gcn")
