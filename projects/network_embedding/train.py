"""DeepWalk / node2vec embeddings of a whole graph, or of its parts in parallel and merged.

    1. Hold out `link_holdout` of the undirected edges (and as many non-edges) for link prediction.
    2. `method='whole'`: walks on the remaining graph. `method='partitioned'`: METIS into
       `num_parts` parts; walks on each part's induced subgraph and on the border subgraph
       (partition.py), the same walks per node and length.
    3. Skip-gram with negative sampling, sparse SGD (lib.graph.embedding.sgns_chunk): every
       subgraph's tables trained at once (a leading [subgraphs] axis, laid out over the `graph`
       mesh axis when the devices divide it), each for `sgns.epochs` passes over its own walks.
       lib.train runs it in chunks of `chunk` SGD steps: checkpoints, bit-exact resume.
    4. Partitioned: merge the systems (partition.merge: Procrustes onto the border system).
    5. Evaluate: node classification (logistic regression on L2-normalised embeddings, a
       stratified 50/50 split of the labelled nodes, accuracy and macro-F1) and link prediction
       (cosine similarity of held-out edges vs non-edges, ROC AUC).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from lib import config as config_lib
from lib import train as train_lib
from lib.config import ConfigError
from lib.data import planetoid
from lib.graph import embedding as emb_lib
from lib.graph import walks as walks_lib
from lib.graph.graph import unpad_edges
from lib.graph.sampling import metis_parts
from lib.graph.synthetic import csbm, random_graph
from projects.network_embedding import partition

DATASETS = ("csbm", "cora", "citeseer", "random")
METHODS = ("whole", "partitioned")
WALKS = ("deepwalk", "node2vec")


def validate(config) -> emb_lib.SGNSConfig:
    config_lib.choice(config, "dataset", DATASETS)
    config_lib.choice(config, "method", METHODS)
    config_lib.choice(config, "walk", WALKS)
    config_lib.integer(config, "num_parts", 1)
    config_lib.integer(config, "walks_per_node", 1)
    config_lib.integer(config, "walk_length", 1)
    config_lib.integer(config, "chunk", 1)
    config_lib.integer(config, "halo", 0)
    config_lib.in_range(config, "link_holdout", 0.0, 0.5)
    for k in ("p", "q"):
        config_lib.positive(config, k)
    s = config.sgns
    return emb_lib.check_sgns(emb_lib.SGNSConfig(int(s.dim), int(s.window), int(s.negatives), int(s.epochs),
                                                 int(s.batch), float(s.lr)))


def load_graph(config):
    """(senders, receivers (both directions, no self loops, no duplicates), N, labels or None)."""
    d = config.dataset
    if d in ("cora", "citeseer"):
        _, y, s, r, *_ = planetoid.load_raw(d, f"{config_lib.data_dir(config)}/planetoid")
        n = len(y)
    elif d == "csbm":
        c = config.csbm
        g = csbm(num_nodes=c.num_nodes, num_classes=c.num_classes, avg_degree=c.avg_degree, homophily=c.homophily,
                 train_per_class=1, num_val=1, num_test=1, seed=config.seed)  # its split is not used here
        s, r = unpad_edges(g)
        n, y = int(np.asarray(g.node_mask).sum()), np.asarray(g.y)[np.asarray(g.node_mask)]
    else:
        c = config.random
        g = random_graph(c.num_nodes, c.num_edges, 1, seed=config.seed)
        (s, r), n, y = unpad_edges(g), c.num_nodes, None  # random labels: speed only
    s, r = np.asarray(s, np.int64), np.asarray(r, np.int64)
    u, v = np.minimum(s, r), np.maximum(s, r)
    pairs = np.unique(u[u != v] * n + v[u != v])
    return pairs // n, pairs % n, n, y


def hold_out(a, b, n: int, fraction: float, seed: int):
    """(train edges (a, b) one direction each, test positives [m, 2], test negatives [m, 2])."""
    rng = np.random.default_rng([seed, 7])
    m = int(round(fraction * len(a)))
    perm = rng.permutation(len(a))
    test, keep = perm[:m], perm[m:]
    existing = set((a * n + b).tolist())
    neg = []
    while len(neg) < m:
        x, y = rng.integers(0, n, 2 * m), rng.integers(0, n, 2 * m)
        lo, hi = np.minimum(x, y), np.maximum(x, y)
        neg += [(i, j) for i, j in zip(lo, hi) if i != j and i * n + j not in existing]
    return (a[keep], b[keep]), np.stack([a[test], b[test]], 1), np.asarray(neg[:m]).reshape(-1, 2)


def subgraphs(config, a, b, n: int):
    """(Subgraphs or None, union senders, union receivers, offsets) for the method."""
    s, r = np.concatenate([a, b]), np.concatenate([b, a])
    if config.method == "whole":
        return None, s, r, np.array([0, n])
    csr = walks_lib.csr_from_edges(s, r, n)
    parts = metis_parts(np.asarray(csr.indptr), np.asarray(csr.indices), config.num_parts, config.seed)
    sub = partition.split(s, r, n, parts, halo=config.halo)
    return sub, sub.senders, sub.receivers, sub.offsets


def stacked_walks(config, us, ur, offsets, key):
    """Walks on the union graph from every node with an edge, grouped by subgraph and stacked:
    (nodes [P, W, L+1] local ids, mask, walks per subgraph [P], visits per subgraph)."""
    total = int(offsets[-1])
    csr = walks_lib.csr_from_edges(us, ur, total)
    starts = np.repeat(np.flatnonzero(np.asarray(csr.degree) > 0), config.walks_per_node)
    if config.walk == "deepwalk":
        nodes, mask = walks_lib.uniform_walks(csr, starts, key, config.walk_length)
    else:
        nodes, mask = walks_lib.node2vec_walks(csr, starts, key, config.walk_length, p=config.p, q=config.q)
    nodes, mask = np.asarray(nodes), np.asarray(mask)
    which = np.searchsorted(offsets, starts, side="right") - 1
    groups = [np.flatnonzero(which == j) for j in range(len(offsets) - 1)]
    w_max = max(len(g) for g in groups)
    out_n = np.zeros((len(groups), w_max, nodes.shape[1]), np.int32)
    out_m = np.zeros(out_n.shape, bool)
    for j, g in enumerate(groups):
        out_n[j, :len(g)] = nodes[g] - offsets[j]
        out_m[j, :len(g)] = mask[g]
    return out_n, out_m, np.array([max(len(g), 1) for g in groups], np.int32)


def classify(e: np.ndarray, y: np.ndarray, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    a, b, ya, yb = train_test_split(e, y, test_size=0.5, random_state=seed, stratify=y)
    pred = LogisticRegression(max_iter=2000).fit(a, ya).predict(b)
    return {"node_accuracy": float(np.mean(pred == yb)), "node_macro_f1": float(f1_score(yb, pred, average="macro"))}


def link_auc(e: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    score = lambda pr: np.sum(e[pr[:, 0]] * e[pr[:, 1]], 1)
    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[score(pos), score(neg)]))


def graph_sharding(num_subgraphs: int):
    """Subgraphs over the `graph` axis when the devices divide their number, else one device."""
    d = jax.device_count()
    if d > 1 and num_subgraphs % d == 0:
        return NamedSharding(jax.make_mesh((d,), ("graph",), axis_types=(AxisType.Auto,)), P("graph"))
    return None


class Prepared(NamedTuple):
    """Everything a run needs before its SGD steps: the subgraphs, stacked walks and tables."""
    cfg: emb_lib.SGNSConfig
    sub: partition.Subgraphs | None
    sizes: np.ndarray  # [P] nodes per subgraph
    consts: list  # nodes, mask, num_walks, cdf, totals: [P, ...] each (sharded over `graph` if it divides)
    keys: jax.Array  # [P]
    tables: dict  # {'in', 'out'}: [P, N_max, D]
    totals: np.ndarray  # [P] SGD steps per subgraph
    tokens: int
    walk_s: float


def prepare(config, cfg: emb_lib.SGNSConfig, a, b, n: int) -> Prepared:
    t0 = time.perf_counter()
    sub, us, ur, offsets = subgraphs(config, a, b, n)
    key = jax.random.key(config.seed)
    nodes, mask, num_walks = stacked_walks(config, us, ur, offsets, jax.random.fold_in(key, 0))
    walk_s = time.perf_counter() - t0
    sizes = np.diff(offsets)
    n_max, p_count = int(sizes.max()), len(sizes)
    cdf = np.stack([np.pad(emb_lib.negative_cdf(nodes[j], mask[j], int(sizes[j])), (0, n_max - sizes[j]),
                           constant_values=1.0) for j in range(p_count)])
    totals = np.array([emb_lib.sgns_steps(mask[j], cfg) for j in range(p_count)], np.int32)
    k_init, k_train = jax.random.split(jax.random.fold_in(key, 1))
    tables = jax.vmap(lambda k: emb_lib.sgns_init(k, n_max, cfg.dim))(jax.random.split(k_init, p_count))
    keys = jax.random.split(k_train, p_count)
    consts = [jnp.asarray(v) for v in (nodes, mask, num_walks, cdf, totals)]
    shard = graph_sharding(p_count)
    if shard is not None:
        tables, consts, keys = jax.device_put((tables, consts, keys), shard)
    return Prepared(cfg, sub, sizes, consts, keys, tables, totals, int(mask.sum()), walk_s)


def run_chunk(prep: Prepared, tables, first, chunk: int):
    """(tables, mean loss per valid pair) after SGD steps first .. first + chunk - 1 of every subgraph.
    The loss is reduced on the host: a reduction over the sharded [subgraphs] axis would be a
    cross-device collective, and XLA:CPU's collectives abort when one device (the border graph's,
    say) finishes its chunk tens of seconds after the others."""
    tabs, loss, pairs = emb_lib.sgns_chunk(tables, *prep.consts, prep.keys, first, chunk, prep.cfg)
    loss, pairs = jax.device_get((loss, pairs))
    return tabs, np.float32(np.sum(loss) / max(float(np.sum(pairs)), 1.0))


def final_embedding(prep: Prepared, tables, n: int) -> tuple[np.ndarray, dict]:
    """[N, D] embedding ('in' vectors; partitioned: merged) and the merge's alignment residuals."""
    tab = np.asarray(jax.device_get(tables["in"]))
    per = [tab[j, :prep.sizes[j]] for j in range(len(prep.sizes))]
    if prep.sub is None:
        return per[0], {}
    e, residual = partition.merge(prep.sub, per, n)
    return e, {str(k): v for k, v in residual.items()}


def train_and_evaluate(config, workdir: str) -> dict:
    cfg = validate(config)
    a, b, n, y = load_graph(config)
    (a, b), pos, neg = hold_out(a, b, n, config.link_holdout, config.seed)
    prep = prepare(config, cfg, a, b, n)
    chunk = int(config.chunk)
    state = {"step": jnp.int32(0), "tables": prep.tables}

    def step_fn(state, _):
        tabs, loss = run_chunk(prep, state["tables"], state["step"] * chunk, chunk)
        return {"step": state["step"] + 1, "tables": tabs}, {"loss": loss}

    info = {}

    def eval_fn(state):
        t = time.perf_counter()
        e, residual = final_embedding(prep, state["tables"], n)
        info.update(merge_s=time.perf_counter() - t, alignment_residual=residual)
        out = {}
        if config.link_holdout > 0:
            out["link_auc"] = link_auc(e, pos, neg)
        if y is not None:
            out.update(classify(e, y, config.seed))
        return out

    def summary(final):
        out = {"nodes": n, "train_edges": int(len(a)), "subgraphs": len(prep.sizes), "walk_s": prep.walk_s,
               "tokens": prep.tokens, "sgd_steps_per_subgraph": prep.totals.tolist(),
               "critical_path_fraction": float(prep.totals.max() / prep.totals.sum()), **info}
        if prep.sub is not None:
            out["border_nodes"] = int(prep.sub.border.sum())
            out["part_sizes"] = [len(m) for m in prep.sub.members[:-1]]
        return out

    num_steps = -(-int(prep.totals.max()) // chunk)
    if config.total is not None:  # stop early (a later run without it resumes and finishes)
        num_steps = min(num_steps, config_lib.integer(config, "total", 1))
    return train_lib.run(config, workdir, state=state, step_fn=step_fn, num_steps=num_steps, eval_fn=eval_fn,
                         summary_fn=summary, desc=f"embed/{config.dataset}/{config.method}")
