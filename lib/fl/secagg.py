"""Secure aggregation by zero-sum masks: the server sees only masked updates and their exact sum.

Each present client i encodes its weighted update p_i u_i in fixed point (int32, `frac_bits`
fractional bits, arithmetic mod 2^32) and adds a mask r_i. Every pair (i, j) of present
clients in the same group shares a seed s_ij; the pair's mask stream M_ij is added by the
lower-numbered client and subtracted by the other, so the masks of a group sum to zero and
the group's masked sum is exactly the sum of the encodings (Bonawitz et al., CCS 2017;
Citadel, SoCC 2021, uses the same zero-sum property inside enclaves). Every single masked
update is uniform over Z_2^32 whatever the update (one mask stream is unknown to the server).
Each client pairs with its `neighbours` nearest slots on each side of a ring (the sparse pair
graph of SecAgg+, Bell et al., CCS 2020; 0 pairs every two clients): the masking work is
K x 2 neighbours mask streams per round instead of K(K-1).

- Hierarchical aggregation (`groups` > 1): clients are split into contiguous groups of slots;
  each group's aggregator sums its members' masked updates (masks cancel inside the group),
  masks the group sum again with zero-sum masks among the groups, and the root sums those.
- Dropouts (`dropouts` clients per round leave after masking): their masked updates never
  arrive, so the masks they share with survivors do not cancel. The server recovers the
  dropped clients' pair seeds (in the protocol from t-of-n secret shares held by survivors;
  here it simply recomputes them) and subtracts those masks. With fewer than `threshold`
  survivors in a group the seeds cannot be recovered: a named error before compiling
  (the check assumes every dropout falls into one group, the worst case).
- Out of range: if a client's encoded value could overflow the sum (|p_i u_i| * 2^frac_bits
  * clients >= 2^31), the aggregate is NaN, so the engine stops the run naming the rule.

The result is the weighted mean over the surviving clients, exact to the fixed-point
resolution (2^-frac_bits per client). The mask streams come from a fast counter hash (the
murmur3 32-bit finaliser of seed and index): statistically uniform, which is what a
simulation needs; a deployment uses a cryptographic stream cipher (AES-CTR, ChaCha20).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lib.config import ConfigError

U32 = jnp.uint32


class SecAggConfigError(ConfigError):
    """Secure-aggregation parameters that cannot work (group too small, too many dropouts)."""


def _fmix(h):
    """murmur3's 32-bit finaliser: a bijective avalanche mix of uint32 values."""
    h = h ^ (h >> 16)
    h = h * U32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * U32(0xC2B2AE35)
    return h ^ (h >> 16)


def _stream(seed, d: int):
    """[..., d] uint32 mask stream of `seed` [...]: the bijective mix of (index xor seed)."""
    return _fmix(jnp.arange(d, dtype=U32) ^ seed[..., None])


def _pair_seed(base, i, j):
    """Seed of the unordered pair {i, j} (uint32), from the round's base seed."""
    lo, hi = jnp.minimum(i, j).astype(U32), jnp.maximum(i, j).astype(U32)
    return _fmix(base ^ _fmix(lo * U32(0x01000193) + hi * U32(0x27D4EB2F) + U32(0x165667B1)))


def offsets(k: int, neighbours: int) -> list[int]:
    """The partner offsets of every client: +-1..+-neighbours (mod K), or all K-1 others when
    `neighbours` is 0 or covers everyone. The pair graph is symmetric and each pair appears once
    per side."""
    if neighbours <= 0 or 2 * neighbours + 1 >= k:
        return list(range(1, k))
    return [o for h in range(1, neighbours + 1) for o in (h, k - h)]


def pair_masks(base, eligible, d: int, neighbours: int = 0, rows=None):
    """[K, d] uint32 masks r with sum_i r_i = 0 (mod 2^32) (or the masks of `rows` only).

    Pair (i, j) (j = i + o mod K for an offset o of `offsets`) shares a mask stream iff
    eligible[i, j] (symmetric); the lower index adds it, the higher subtracts it. Each client
    computes its own row from the pair seeds alone (no data movement between rows), so the work
    is rows x len(offsets) streams, elementwise."""
    k = eligible.shape[0]
    ids = jnp.arange(k) if rows is None else rows
    r = jnp.zeros((ids.shape[0], d), U32)
    for o in offsets(k, neighbours):  # static: K is the round's capacity
        partner = (ids + o) % k
        m = _stream(_pair_seed(base, ids, partner), d)
        signed = jnp.where((ids < partner)[:, None], m, U32(0) - m)
        r = r + jnp.where(eligible[ids, partner][:, None], signed, U32(0))
    return r


def encode(x, frac_bits: int):
    """Fixed point: round(x 2^frac_bits) as int32, carried as uint32 (two's complement)."""
    return jax.lax.bitcast_convert_type(jnp.round(x * (2.0 ** frac_bits)).astype(jnp.int32), U32)


def decode(v, frac_bits: int):
    return jax.lax.bitcast_convert_type(v, jnp.int32).astype(jnp.float32) / (2.0 ** frac_bits)


def groups_of(k: int, groups: int):
    """[K] group id of each client slot: contiguous blocks of ceil(K / groups) slots."""
    size = -(-k // groups)
    return np.arange(k) // size


def secure_sum(x, present, key, *, frac_bits: int = 24, groups: int = 1, dropouts: int = 0,
               neighbours: int = 0):
    """The protocol on [K, D] float32 rows (already weighted). Returns a dict:

    sum_int [D] uint32: what the server decodes (masked sums minus recovered masks);
    plain_int [D] uint32: the sum of the survivors' encodings (what it must equal);
    masked [K, D] uint32: what the (group) aggregators see; group_sums [groups, D] uint32: what
    the root sees; survived [K] bool."""
    k, d = x.shape
    key_mask, key_group, key_drop = jax.random.split(key, 3)
    base = jax.random.bits(key_mask, (), U32)
    g = jnp.asarray(groups_of(k, groups))
    same = g[:, None] == g[None, :]
    eligible = present[:, None] & present[None, :] & same
    enc = jnp.where(present[:, None], encode(x, frac_bits), U32(0))
    masked = enc + pair_masks(base, eligible, d, neighbours)
    # `dropouts` of the present clients, chosen at random, leave after masking
    order = jnp.argsort(jnp.where(present, jax.random.uniform(key_drop, (k,)), jnp.inf))
    dropped = jnp.zeros(k, bool).at[order[:dropouts]].set(True) & present
    survived = present & ~dropped
    # groups sum their survivors' masked updates and mask the sums again among the groups; the
    # root adds those. Addition mod 2^32 is associative, so the root's total is computed as one
    # reduction over the rows plus the group masks (which cancel); the per-group sums the root
    # sees are returned for inspection (unused outputs are dropped by jit).
    kept = jnp.where(survived[:, None], masked, U32(0))
    bounds = np.searchsorted(groups_of(k, groups), np.arange(groups + 1))  # static contiguous blocks
    group_sums = jnp.stack([kept[a:b].sum(0, dtype=U32) for a, b in zip(bounds[:-1], bounds[1:])])
    total = kept.sum(0, dtype=U32)
    if groups > 1:
        group_on = jnp.stack([survived[a:b].any() for a, b in zip(bounds[:-1], bounds[1:])])
        gmask = pair_masks(jax.random.bits(key_group, (), U32), group_on[:, None] & group_on[None, :], d)
        group_sums = group_sums + gmask
        total = total + gmask.sum(0, dtype=U32)
    if dropouts:
        # the survivors' masks shared with dropped clients d do not cancel; they sum to minus the
        # dropped clients' own masks towards survivors, which the server recomputes from the
        # recovered seeds of d alone (work: dropouts rows, not K)
        towards_survivors = eligible & survived[None, :]
        rec = pair_masks(base, towards_survivors, d, neighbours, rows=order[:dropouts])
        total = total + jnp.where(dropped[order[:dropouts]][:, None], rec, U32(0)).sum(0, dtype=U32)
    plain = jnp.where(survived[:, None], enc, U32(0)).sum(0, dtype=U32)
    return {"sum_int": total, "plain_int": plain, "masked": masked, "group_sums": group_sums,
            "survived": survived}


def secure_fedavg(updates, weights, state, key, *, frac_bits=24, groups=1, dropouts=0, threshold=0,
                  neighbours=2):
    """FedAvg through secure aggregation: the weighted mean of the surviving clients' updates.

    Client i sends mask(enc(p_i u_i)) with p_i = w_i / sum_present w (sample counts are public);
    the server divides the decoded sum by sum_surviving p_i. `threshold` only enters the
    validation (recovery needs that many survivors per group; 0: a majority of the group)."""
    del state, threshold
    from lib.fl.aggregate import _flatten  # noqa: PLC0415 (aggregate registers this rule)

    x, unflatten = _flatten(updates)
    w = weights.astype(jnp.float32)
    present = w > 0
    p = w / jnp.maximum(w.sum(), 1e-30)
    v = x * p[:, None]
    limit = 2.0 ** (31 - frac_bits) / x.shape[0]  # no partial sum can overflow int32
    in_range = jnp.all(jnp.where(present, jnp.max(jnp.abs(x), axis=1) * p < limit, True))  # row-wise: one read
    out = secure_sum(v, present, key, frac_bits=frac_bits, groups=groups, dropouts=dropouts,
                     neighbours=neighbours)
    kept = jnp.sum(jnp.where(out["survived"], p, 0.0))
    mean = decode(out["sum_int"], frac_bits) / jnp.maximum(kept, 1e-30)
    mean = jnp.where(in_range & (kept > 0), mean, jnp.nan)
    return unflatten(mean), {}


def check(n, f, byzantine, frac_bits=24, groups=1, dropouts=0, threshold=0, neighbours=2, **params):
    """Named errors for parameters the protocol cannot run with (before any compile)."""
    if byzantine:
        raise SecAggConfigError(f"secure_fedavg is a plain mean of masked updates: it cannot withstand "
                                f"{byzantine} Byzantine clients")
    if not 1 <= frac_bits <= 30:
        raise SecAggConfigError(f"secure_fedavg: frac_bits={frac_bits} must be in [1, 30]")
    if neighbours < 0:
        raise SecAggConfigError(f"secure_fedavg: neighbours={neighbours} must be >= 0 (0: every pair)")
    if groups < 1:
        raise SecAggConfigError(f"secure_fedavg: groups={groups} must be >= 1")
    sizes = np.bincount(groups_of(n, groups))
    if len(sizes) != groups or sizes.min() < 2:
        raise SecAggConfigError(f"secure_fedavg: {n} client slots cannot form groups={groups} of >= 2 clients "
                                f"each (a secure-aggregation group of one does not hide its update)")
    size = int(sizes.min())
    t = threshold or size // 2 + 1
    if not 1 <= t <= size:
        raise SecAggConfigError(f"secure_fedavg: threshold={threshold} must be in [1, group size {size}]")
    if dropouts < 0 or size - dropouts < t:
        raise SecAggConfigError(
            f"secure_fedavg: dropouts={dropouts} can leave {size - dropouts} survivor(s) in a group of {size}, "
            f"below the recovery threshold t={t}: the dropped clients' masks could not be removed")
