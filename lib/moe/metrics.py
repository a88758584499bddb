"""Routing metrics from traces (numpy, offline): load, balance, drops, local routing consistency.

A routing trace is a boolean array a[..., N, L, E]: sequence n, position t, expert e, True when token
(n, t) is routed to e (top-k: k Trues per token). A leading axis, when present, is the layer.

SRP and SCH follow Liang et al., arXiv 2505.16056 (local routing consistency; operational definitions
from the authors' code, github.com/ljcleo/moe-lrc):
- SRP(m): over all windows sigma of m consecutive tokens (stride 1, within a sequence), counts
  c[sigma, e]; for a threshold c the fixed set S = {e : c[sigma, e] >= c}; matches = sum of c over S,
  preds = m * |S|, acts = total activations; F1 = 2 matches / (preds + acts); SRP = max over c.
  Model level: statistics summed over layers before the F1.
- SCH(m, C): before serving token i, experts ranked by (activations in tokens i..i+m-1, then most
  recent use before i, then expert id); the cache is the top C; a request hits if its expert is cached.
  Stack property: one ranking gives the hit rate for every C. Model level: layers' experts
  concatenated with offset ids (cache size then counts experts over all layers).
"""
from __future__ import annotations

import numpy as np

SEGMENTS = (4, 16, 64, 256)


def load_histogram(index: np.ndarray, mask: np.ndarray | None, num_experts: int) -> np.ndarray:
    """Tokens per expert from expert ids [..., S] and an optional mask."""
    index = np.asarray(index).reshape(-1)
    w = None if mask is None else np.asarray(mask, np.float64).reshape(-1)
    return np.bincount(index, weights=w, minlength=num_experts)


def cv(load) -> float:
    """Coefficient of variation std/mean of the per-expert load (0 = perfectly balanced)."""
    load = np.asarray(load, np.float64)
    m = load.mean()
    return float(load.std() / m) if m > 0 else 0.0


def max_over_mean(load) -> float:
    load = np.asarray(load, np.float64)
    return float(load.max() / load.mean()) if load.mean() > 0 else 0.0


def dropped_fraction(routed: float, kept: float) -> float:
    return float(1.0 - kept / routed) if routed else 0.0


def _windows(a: np.ndarray, m: int) -> np.ndarray:
    """Counts per window: a [N, L, E] -> [N, L - m + 1, E] (m capped at L)."""
    n, l, e = a.shape
    m = min(m, l)
    cs = np.concatenate([np.zeros((n, 1, e), np.int64), np.cumsum(a, 1, dtype=np.int64)], 1)
    return cs[:, m:] - cs[:, :-m], m


def srp_stats(a: np.ndarray, m: int):
    """(matches[c], preds[c], acts) for thresholds c = 1..m of one layer's trace [N, L, E]."""
    c, m = _windows(np.asarray(a, bool), m)
    counts = np.bincount(c.reshape(-1), minlength=m + 1)[: m + 1]  # how many (window, expert) have count v
    v = np.arange(m + 1)
    # threshold thr keeps entries with count >= thr: suffix sums over v
    matches = np.cumsum((counts * v)[::-1])[::-1][1:]  # thr = 1..m
    sizes = np.cumsum(counts[::-1])[::-1][1:]
    return matches.astype(np.float64), m * sizes.astype(np.float64), float((counts * v).sum())


def srp(a: np.ndarray, m: int) -> float:
    """Segment routing best performance; a [N, L, E] (one layer) or [layers, N, L, E] (model level)."""
    a = np.asarray(a, bool)
    layers = a[None] if a.ndim == 3 else a
    stats = [srp_stats(x, m) for x in layers]
    matches = sum(s[0] for s in stats)
    preds = sum(s[1] for s in stats)
    acts = sum(s[2] for s in stats)
    f1 = 2 * matches / np.maximum(preds + acts, 1e-12)
    return float(f1.max())


def sch_curve(a: np.ndarray, m: int) -> np.ndarray:
    """Segment cache best hit rate for cache sizes C = 1..E; a [N, L, E] or [layers, N, L, E]."""
    a = np.asarray(a, bool)
    if a.ndim == 4:  # model level: experts of all layers side by side with offset ids
        a = np.concatenate(list(a), axis=-1)
    n, l, e = a.shape
    # future counts over tokens i..i+m-1 (truncated at the sequence end)
    cs = np.concatenate([np.zeros((n, 1, e), np.int64), np.cumsum(a, 1, dtype=np.int64)], 1)
    end = np.minimum(np.arange(l) + m, l)
    fut = cs[:, end] - cs[:, :l]
    # most recent use strictly before i (-1 = never)
    used_at = np.where(a, np.arange(l)[None, :, None], -1)
    last = np.maximum.accumulate(used_at, axis=1)
    rec = np.concatenate([np.full((n, 1, e), -1), last[:, :-1]], 1)
    key = fut * (l + 2) + (rec + 1)  # lexicographic (future count, recency)
    # rank of expert e = experts with a larger key, or an equal key and a lower id
    bigger = (key[..., None, :] > key[..., :, None]).sum(-1)
    ties = ((key[..., None, :] == key[..., :, None]) & (np.arange(e)[None, :] < np.arange(e)[:, None])).sum(-1)
    rank = bigger + ties
    hits = np.bincount(rank[a], minlength=e)[:e]
    return np.cumsum(hits) / max(int(a.sum()), 1)


def sch(a: np.ndarray, m: int, cache: int) -> float:
    return float(sch_curve(a, m)[cache - 1])


def trace_from_index(index: np.ndarray, mask: np.ndarray | None, num_experts: int) -> np.ndarray:
    """[N, L, S] expert ids (+mask) -> boolean trace [N, L, E]."""
    index = np.asarray(index)
    oh = np.zeros(index.shape[:-1] + (num_experts,), bool)
    mk = np.ones(index.shape, bool) if mask is None else np.asarray(mask, bool)
    n, l, s = index.shape
    nn, ll = np.meshgrid(np.arange(n), np.arange(l), indexing="ij")
    for j in range(s):
        oh[nn[mk[..., j]], ll[mk[..., j]], index[..., j][mk[..., j]]] = True
    return oh


def consistency_table(trace: np.ndarray, k: int, segments=SEGMENTS) -> dict:
    """SRP(m) and SCH(m, C = 2k) (the paper's sweet spot is cache ~ 2x active experts) per segment length."""
    e = trace.shape[-1] * (trace.shape[0] if trace.ndim == 4 else 1)
    kk = k * (trace.shape[0] if trace.ndim == 4 else 1)
    return {m: {"srp": srp(trace, m), "sch_2k": sch(trace, m, min(e, 2 * kk))} for m in segments}
