"""Gradient coding (Tandon, Lei, Dimakis, Karampatziakis, ICML 2017): exact recovery of a sum of
partition gradients from any n - s of n workers (host NumPy, float64).

The data of one step is split into n partitions with gradients g_1..g_n. Worker i sends one coded
message c_i = sum_p B[i, p] g_p, computed from the s + 1 partitions in the support of row i of the
encoding matrix B [n, n]. For every set F of at least n - s responding workers there is a decoding
vector a (zero outside F) with a^T B = 1^T, so sum_i a_i c_i = sum_p g_p exactly (in exact
arithmetic; to float rounding here).

Encodings (`encoding(kind, n, s)`):
- `fractional` (fractional repetition): workers in n / (s + 1) groups of s + 1; every worker of a
  group sends the plain sum of its group's s + 1 partitions; decoding takes one responder per group
  (coefficients 0/1, so decoding adds no rounding). Needs (s + 1) | n.
- `cyclic` (cyclic repetition): row i is supported on partitions i, i+1, ..., i+s (mod n), with
  B[i, i] = 1 and the other s entries chosen so that H B^T = 0 for a random s x n matrix H whose
  rows sum to zero. Every row then lies in null(H), an (n - s)-dimensional space that holds the
  all-ones vector; any n - s rows are (with probability 1) independent, so they span it and 1 is
  their combination: a solves B_F^T a_F = 1 (least squares, checked to a residual tolerance).
  Of 8 random H the one with the smallest decoding coefficients is kept (`_cyclic`): one draw
  can be badly conditioned.
- `uncoded` (s = 0): B = I; the master needs every worker.

Bad parameters (s >= n, s < 0, (s + 1) not dividing n for `fractional`) are a `ConfigError`; a
set of responders from which the sum cannot be recovered (fewer than n - s, or a fractional group
with no responder) is an `UndecodableError`. Both derive from lib.errors.TesseraError.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from lib.config import ConfigError
from lib.errors import TesseraError

KINDS = ("uncoded", "fractional", "cyclic")


class UndecodableError(TesseraError):
    """The responding workers do not determine the sum of the partition gradients."""


def check(kind: str, n: int, s: int) -> None:
    """Named errors for parameters no gradient code has (before anything is built)."""
    if kind not in KINDS:
        raise ConfigError(f"gradient code {kind!r} is unknown; choose one of {list(KINDS)}")
    for name, v in (("n", n), ("s", s)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"gradient code: {name}={v!r} must be an integer")
    if n < 1:
        raise ConfigError(f"gradient code: n={n} workers must be >= 1")
    if not 0 <= s < n:
        raise ConfigError(f"gradient code: s={s} stragglers must be in [0, n - 1 = {n - 1}] "
                          "(with s >= n no worker is left to decode from)")
    if kind == "uncoded" and s != 0:
        raise ConfigError(f"gradient code 'uncoded' tolerates no stragglers: s={s} must be 0")
    if kind == "fractional" and n % (s + 1):
        raise ConfigError(f"fractional repetition needs (s + 1) | n: s + 1 = {s + 1} does not divide n = {n}")


def encoding(kind: str, n: int, s: int, seed: int = 0) -> np.ndarray:
    """The encoding matrix B [n workers, n partitions] (float64)."""
    check(kind, n, s)
    if kind == "uncoded" or s == 0:
        return np.eye(n)
    if kind == "fractional":
        g = np.arange(n) // (s + 1)
        return (g[:, None] == g[None, :]).astype(np.float64)
    return _cyclic(n, s, int(seed)).copy()


def _cyclic_draw(n: int, s: int, rng) -> np.ndarray:
    h = rng.standard_normal((s, n))
    h[:, -1] = -h[:, :-1].sum(1)  # rows sum to zero: H 1 = 0
    b = np.zeros((n, n))
    for i in range(n):
        others = (i + np.arange(1, s + 1)) % n
        b[i, i] = 1.0
        b[i, others] = np.linalg.solve(h[:, others], -h[:, i])
    return b


@functools.lru_cache(maxsize=64)
def _cyclic(n: int, s: int, seed: int, draws: int = 8, max_sets: int = 2000) -> np.ndarray:
    """Cyclic repetition with the best-conditioned of `draws` random H: the one whose largest decoding
    coefficient over the straggler sets of size s (all of them, or `max_sets` sampled) is smallest.
    A single random draw can need coefficients of 1e5-1e6 at n = 16-32 (float32 decoding then loses
    several digits); the selection keeps them small enough for float32 (tests/lib/fl/test_clock_coding.py)."""
    rng = np.random.default_rng((seed, n, s, 7))
    if math.comb(n, s) <= max_sets:
        sets = [list(c) for c in itertools.combinations(range(n), s)]
    else:
        sets = [rng.choice(n, s, replace=False).tolist() for _ in range(max_sets)]
    best, best_a = None, np.inf
    for _ in range(draws):
        b = _cyclic_draw(n, s, rng)
        worst = 0.0
        for lost in sets:
            alive = np.ones(n, bool)
            alive[lost] = False
            sol, *_ = np.linalg.lstsq(b[alive].T, np.ones(n), rcond=None)
            worst = max(worst, float(np.abs(sol).max()))
            if worst >= best_a:
                break
        if worst < best_a:
            best, best_a = b, worst
    best.setflags(write=False)
    return best


def support(b: np.ndarray) -> list[np.ndarray]:
    """The partitions each worker computes (the nonzero columns of its row)."""
    return [np.flatnonzero(row != 0) for row in b]


def decoding_vector(b: np.ndarray, alive, s: int | None = None, rtol: float = 1e-8) -> np.ndarray:
    """a [n] with a = 0 for the stragglers and a^T B = 1^T; `alive` [n] bool marks the responders.
    Raises UndecodableError when the responders do not determine the sum (fewer than n - s of them,
    when s is given, or a^T B = 1 has no solution on them)."""
    b = np.asarray(b, np.float64)
    alive = np.asarray(alive, bool)
    n = b.shape[0]
    if alive.shape != (n,):
        raise ValueError(f"alive has shape {alive.shape}, the code has {n} workers")
    k = int(alive.sum())
    if s is not None and k < n - s:
        raise UndecodableError(f"{n - k} of {n} workers straggled; the code tolerates s={s} "
                               f"(needs at least n - s = {n - s} responders)")
    a = np.zeros(n)
    if k == 0:
        raise UndecodableError(f"all {n} workers straggled: nothing to decode from")
    idx = np.flatnonzero(alive)
    sub = b[idx]
    if np.all((sub == 0) | (sub == 1)) and np.all(sub.sum(0) >= 1):  # 0/1 rows (uncoded, fractional)
        covered = np.zeros(b.shape[1], bool)
        for i in idx:  # greedy: one responder per block of disjoint supports
            row = b[i] != 0
            if not (covered & row).any():
                a[i], covered = 1.0, covered | row
        if covered.all():
            return a
        a[:] = 0.0
    sol, *_ = np.linalg.lstsq(sub.T, np.ones(b.shape[1]), rcond=None)
    resid = np.abs(sol @ sub - 1.0).max()
    if not np.isfinite(resid) or resid > rtol * max(1.0, np.abs(sol).max()):
        raise UndecodableError(f"workers {np.flatnonzero(~alive).tolist()} straggled: the other {k} do not "
                               f"determine the sum (residual {resid:.2e})")
    a[idx] = sol
    return a


def encode(b: np.ndarray, partial_grads: np.ndarray) -> np.ndarray:
    """Coded messages [n, ...] from partition gradients [n_partitions, ...]."""
    return np.tensordot(np.asarray(b), np.asarray(partial_grads), axes=1)


def decode(a: np.ndarray, messages: np.ndarray) -> np.ndarray:
    """sum_i a_i c_i: the sum of the partition gradients."""
    return np.tensordot(np.asarray(a), np.asarray(messages), axes=1)


def tolerated(kind: str, n: int, s: int, alive) -> bool:
    """Whether the responders `alive` decode (fractional: one per group; cyclic: n - s of n)."""
    alive = np.asarray(alive, bool)
    if kind == "fractional" and s > 0:
        return bool(np.all(alive.reshape(n // (s + 1), s + 1).any(1)))
    return int(alive.sum()) >= n - s
