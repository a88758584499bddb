"""MoE routers: pure functions from router logits to (expert index, combine weight, mask).

Every router returns a `Routing` with S "slots" per token: `index[t, s]` is the expert of slot s,
`weight[t, s]` its combine weight and `mask[t, s]` whether the slot is used. Top-k style routers use
S = k; routers with a data-dependent number of experts per token (DTS-Gate, expert-choice) use S = E
with a mask. Selection and combine weights are kept separate (the expert index comes from one score,
the combine weight may come from another), which is what the loss-free bias, the DTS threshold and
hash routing need.

Slot order is priority order for capacity dispatch: all slot-0 choices outrank slot-1 choices, and
within a slot earlier tokens outrank later ones (HetuMoE / GShard convention).

Routers are registered by name in `KINDS` (a `RouterKind` each: the routing function and the
properties the rest of lib/moe asks about: slots per token, capacity rule, learned or fixed,
balance loss, causal or not, router state, residual mix, expert groups, whether it needs a PRNG
key). `make_spec(name=..., num_experts=..., ...)` resolves the name once (aliases 'switch' and
'gshard' included) and validates the configuration before anything is traced (`MoEConfigError`
names the key, value and what is allowed); `RouterSpec.kind` is the resolved entry.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from lib.config import ConfigError


class MoEConfigError(ConfigError):
    """Bad MoE configuration: names the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"moe config key {key!r} = {value!r} is invalid; allowed: {allowed}")


TAU_SCHEDULES = ("none", "exp", "linear")
SECOND_POLICIES = ("all", "random")
BIAS_RULES = ("sign", "proportional", "proportional_decay")
SCORES = ("softmax", "sigmoid")


@dataclasses.dataclass(frozen=True)
class RouterSpec:
    """Static router configuration (hashable, so it can be a flax module attribute)."""

    name: str
    num_experts: int
    k: int = 1
    normalize: bool = False  # renormalise the selected weights to sum to 1 (GShard top-2, DeepSeek)
    second_policy: str = "all"  # GShard: 'random' keeps the 2nd expert with prob min(1, 2*w2)
    group_size: int = 0  # SAM: experts per group (= per host); 0 -> E // 2
    vocab_size: int = 256  # hash: token ids are taken modulo this
    hash_seed: int = 0
    sinkhorn_iters: int = 8  # BASE
    capacity_factor: float = 1.0  # expert-choice tokens per expert = ceil(cf * T * k / E)
    # DTS-Gate (defaults are the EvoMoE code's (codecaution/EvoMoE); the paper does not state them)
    tau_max: float = 1.0
    tau_min: float = 0.5
    tau_decay_steps: int = 1
    tau_schedule: str = "none"
    threshold: float = 1e-3
    switch_step: int = -1  # -1: never switch to top-1
    use_gumbel_gates: bool = True
    # loss-free balancing
    score: str = "softmax"
    bias_rule: str = "sign"
    bias_rate: float = 1e-3
    bias_decay_steps: float = 1000.0  # proportional_decay: eps0 / (1 + n / n0)

    @property
    def kind(self) -> "RouterKind":
        """The registry entry of this router (make_spec has checked the name)."""
        return KINDS[self.name]

    @property
    def slots(self) -> int:
        """Slots per token in the Routing arrays."""
        return {"k": self.k, "experts": self.num_experts, "one": 1}[self.kind.slots]

    @property
    def residual(self) -> bool:
        """BASE mixes alpha * expert(x) + (1 - alpha) * x."""
        return self.kind.residual

    @property
    def has_state(self) -> bool:
        return self.kind.stateful

    @property
    def needs_key(self) -> bool:
        """Whether routing in training draws random numbers (a PRNG key must be passed)."""
        return self.kind.needs_key(self)

    def capacity(self, tokens: int, capacity_factor: float) -> int:
        """Per-expert capacity for capacity-mode dispatch (one convention: ceil(cf * T * k / E))."""
        return self.kind.capacity(self, tokens, capacity_factor)


def slot_capacity(spec: RouterSpec, tokens: int, capacity_factor: float) -> int:
    """The default rule: ceil(cf * T * slots / E), at least 1, at most every slot."""
    return max(1, min(tokens * spec.slots, math.ceil(capacity_factor * tokens * spec.slots / spec.num_experts)))


def ec_capacity(spec: RouterSpec, tokens: int) -> int:
    return max(1, min(tokens, math.ceil(spec.capacity_factor * tokens * spec.k / spec.num_experts)))


def make_spec(name: str, num_experts: int, **kw) -> RouterSpec:
    """Validated RouterSpec; aliases ('switch', 'gshard') expand to their router with fixed options."""
    if name not in ROUTERS:
        raise MoEConfigError("moe.router", name, f"one of {ROUTERS}")
    if not isinstance(num_experts, int) or num_experts < 1:
        raise MoEConfigError("moe.num_experts", num_experts, "a positive int")
    if name in ALIASES:
        a = ALIASES[name]
        name, kw = a.router, {**a.defaults, **kw, **a.fixed}
    unknown = set(kw) - {f.name for f in dataclasses.fields(RouterSpec)}
    if unknown:
        raise MoEConfigError("moe.router options", sorted(unknown),
                             f"fields of RouterSpec: {[f.name for f in dataclasses.fields(RouterSpec)]}")
    spec = RouterSpec(name=name, num_experts=num_experts, **kw)
    e, k = spec.num_experts, spec.k
    if not 1 <= k <= e:
        raise MoEConfigError("moe.k", k, f"1 <= k <= num_experts ({e})")
    if spec.kind.check is not None:
        spec.kind.check(spec)
    if spec.second_policy not in SECOND_POLICIES:
        raise MoEConfigError("moe.second_policy", spec.second_policy, f"one of {SECOND_POLICIES}")
    if spec.second_policy == "random" and k != 2:
        raise MoEConfigError("moe.second_policy", "random", "only with k == 2")
    if spec.tau_schedule not in TAU_SCHEDULES:
        raise MoEConfigError("moe.tau_schedule", spec.tau_schedule, f"one of {TAU_SCHEDULES}")
    if not 0 < spec.tau_min <= spec.tau_max:
        raise MoEConfigError("moe.tau_min/tau_max", (spec.tau_min, spec.tau_max), "0 < tau_min <= tau_max")
    if spec.tau_decay_steps < 1:
        raise MoEConfigError("moe.tau_decay_steps", spec.tau_decay_steps, ">= 1")
    if not 0 <= spec.threshold < 1:
        raise MoEConfigError("moe.threshold", spec.threshold, "0 <= threshold < 1")
    if spec.bias_rule not in BIAS_RULES:
        raise MoEConfigError("moe.bias_rule", spec.bias_rule, f"one of {BIAS_RULES}")
    if spec.score not in SCORES:
        raise MoEConfigError("moe.score", spec.score, f"one of {SCORES}")
    if spec.capacity_factor <= 0:
        raise MoEConfigError("moe.capacity_factor", spec.capacity_factor, "> 0")
    if spec.vocab_size < 1 or spec.sinkhorn_iters < 0:
        raise MoEConfigError("moe.vocab_size/sinkhorn_iters", (spec.vocab_size, spec.sinkhorn_iters),
                             "vocab_size >= 1, sinkhorn_iters >= 0")
    return spec


@struct.dataclass
class Routing:
    index: jax.Array  # [T, S] int32 expert ids
    weight: jax.Array  # [T, S] float32 combine weights (0 where mask is False)
    mask: jax.Array  # [T, S] bool
    probs: jax.Array  # [T, E] float32 router probabilities (for losses and metrics)
    aux_loss: jax.Array  # scalar: Switch load-balance loss (0 for routers without one)
    z_loss: jax.Array  # scalar: mean(logsumexp(logits)^2)
    align_loss: jax.Array = None  # scalar: SAM alignment loss (0 for other routers; None if built by hand)


def init_state(spec: RouterSpec) -> dict:
    """Non-trainable router state (kept out of the optimizer, checkpointed with the train state)."""
    return spec.kind.init_state(spec) if spec.kind.stateful else {}


# ----------------------------------------------------------------------------------------------
# losses


def z_loss(logits: jax.Array) -> jax.Array:
    """ST-MoE router z-loss: mean over tokens of logsumexp(logits)^2."""
    return jnp.mean(jax.nn.logsumexp(logits.astype(jnp.float32), axis=-1) ** 2)


def load_counts(index: jax.Array, mask: jax.Array, num_experts: int) -> jax.Array:
    """Tokens routed to each expert (one count per used slot)."""
    oh = jax.nn.one_hot(index, num_experts, dtype=jnp.float32) * mask[..., None]
    return oh.reshape(-1, num_experts).sum(0)


def switch_loss(probs: jax.Array, index: jax.Array, mask: jax.Array, k: int) -> jax.Array:
    """Switch load-balance loss E * sum_e f_e P_e; f_e = share of the T*k assignments, P_e = mean prob.

    Equals 1 under perfectly uniform routing, up to E when all tokens go to one expert.
    """
    t, e = probs.shape
    f = load_counts(index, mask, e) / (t * k)
    return e * jnp.sum(f * probs.mean(0))


# ----------------------------------------------------------------------------------------------
# routers


def _topk(spec, logits, *, key, train, **_):
    probs = jax.nn.softmax(logits, axis=-1)
    w, idx = jax.lax.top_k(probs, spec.k)
    mask = jnp.ones(idx.shape, bool)
    if spec.normalize:
        w = w / jnp.sum(w, -1, keepdims=True)
    if spec.second_policy == "random" and train:
        # GShard: send to the 2nd expert with probability min(1, 2 * g2 / (g1 + g2))
        g2 = w[:, 1] / (w[:, 0] + w[:, 1])
        keep = jax.random.uniform(key, g2.shape) < 2.0 * g2
        mask = mask.at[:, 1].set(keep)
    w = jnp.where(mask, w, 0.0)
    return _out(idx, w, mask, probs=probs, aux_loss=switch_loss(probs, idx, mask, spec.k))


def _ktop1(spec, logits, **_):
    t, e = logits.shape
    g = e // spec.k
    lg = logits.reshape(t, spec.k, g)
    p = jax.nn.softmax(lg, axis=-1)
    local = jnp.argmax(p, -1)  # [T, k]
    w = jnp.take_along_axis(p, local[..., None], -1)[..., 0]
    idx = local + jnp.arange(spec.k) * g
    mask = jnp.ones(idx.shape, bool)
    # one balance loss per prototype group, summed (HetuMoE KTop1Gate)
    aux = sum(switch_loss(p[:, i], local[:, i:i + 1], mask[:, i:i + 1], 1) for i in range(spec.k))
    return _out(idx, w, mask, probs=p.reshape(t, e) / spec.k, aux_loss=aux)


def _hash(spec, logits, *, token_ids, **_):
    if token_ids is None:
        raise MoEConfigError("token_ids", None, "int token ids [T] for router 'hash'")
    t = token_ids.reshape(-1).astype(jnp.uint32) % jnp.uint32(spec.vocab_size)
    # fixed random map: a random permutation of the vocabulary, split evenly over experts
    perm = jax.random.permutation(jax.random.PRNGKey(spec.hash_seed), spec.vocab_size)
    idx = (perm[t] % spec.num_experts).astype(jnp.int32)[:, None]
    return _out(idx, jnp.ones(idx.shape, jnp.float32), jnp.ones(idx.shape, bool))


def sinkhorn(scores: jax.Array, iters: int) -> jax.Array:
    """Log-domain Sinkhorn: log transport plan with uniform token and expert marginals."""
    t, e = scores.shape
    lp = scores - jax.nn.logsumexp(scores, axis=1, keepdims=True)

    def body(_, lp):
        lp = lp - jax.nn.logsumexp(lp, axis=0, keepdims=True) + jnp.log(t / e)  # columns sum to T/E
        return lp - jax.nn.logsumexp(lp, axis=1, keepdims=True)  # rows sum to 1

    return jax.lax.fori_loop(0, iters, body, lp)


def _rank_within(expert: jax.Array, score: jax.Array, num_experts: int) -> jax.Array:
    """Rank of each row among rows with the same expert, by descending score (ties: lower index)."""
    t = expert.shape[0]
    order = jnp.argsort(-score, stable=True)
    order = order[jnp.argsort(expert[order], stable=True)]
    counts = jnp.bincount(expert, length=num_experts + 1)
    starts = jnp.cumsum(counts) - counts
    pos_sorted = jnp.arange(t) - starts[expert[order]]
    return jnp.zeros(t, jnp.int32).at[order].set(pos_sorted.astype(jnp.int32))


def balanced_assignment(scores: jax.Array, iters: int) -> jax.Array:
    """Each token gets one expert, each expert at most ceil(T/E) tokens (exactly T/E when it divides).

    Sinkhorn gives dual prices that balance the soft plan; rounding is by proposal rounds: unassigned
    tokens propose to their best expert with room left, each expert accepts its best proposals up to its
    remaining room. An expert that rejects anyone is full afterwards, so E rounds assign every token.
    """
    t, e = scores.shape
    cap = -(-t // e)
    pref = jax.lax.stop_gradient(sinkhorn(scores.astype(jnp.float32), iters))

    def body(_, carry):
        assign, room = carry
        cand = jnp.where(room[None, :] > 0, pref, -jnp.inf)
        prop = jnp.argmax(cand, -1)
        active = assign < 0
        prop_e = jnp.where(active, prop, e)  # assigned tokens propose to the sentinel e
        rank = _rank_within(prop_e, jnp.max(cand, -1), e)
        ok = active & (rank < room[jnp.minimum(prop_e, e - 1)])
        assign = jnp.where(ok, prop, assign)
        room = room - jnp.bincount(jnp.where(ok, prop, e), length=e + 1)[:e]
        return assign, room

    # initial carries derived from `pref` so they carry its (shard_map) varying-axes type
    zero_t = jnp.zeros_like(pref[:, 0], dtype=jnp.int32)
    zero_e = jnp.zeros_like(pref[0], dtype=jnp.int32)
    assign, _ = jax.lax.fori_loop(0, e, body, (zero_t - 1, zero_e + cap))
    return assign


def _base(spec, logits, **_):
    idx = balanced_assignment(logits, spec.sinkhorn_iters)[:, None]
    s = jnp.take_along_axis(logits, idx, -1)
    w = jax.nn.sigmoid(s)  # BASE layers: alpha = sigmoid(x . w_e); output alpha*f(x) + (1-alpha)*x
    return _out(idx, w, jnp.ones(idx.shape, bool))


def sam_alignment_loss(probs: jax.Array, group: jax.Array, weight_kth: jax.Array, group_size: int):
    """SAM alignment loss (HetuMoE SAMGate `alignment_loss`, kernel src/ops/SamMax.cu).

    For token t with chosen group G_t and threshold tau_t = probability of its k-th (smallest) chosen
    expert: sum over experts j outside G_t of relu(p_tj - tau_t). It is zero when the top-k experts
    overall lie in the chosen group, and pushes down outside experts that outrank a chosen one, so
    that the group choice and the expert choice agree. As in HetuMoE's backward kernel no gradient
    flows through tau_t. HetuMoE sums over tokens; here it is the mean over tokens (a batch-size free
    weight: HetuMoE's loss = T x this one).
    """
    t, e = probs.shape
    tau = jax.lax.stop_gradient(weight_kth)[:, None]
    outside = (jnp.arange(e)[None, :] // group_size) != group[:, None]
    return jnp.mean(jnp.sum(jnp.where(outside, jax.nn.relu(probs - tau), 0.0), -1))


def _sam(spec, logits, **_):
    t, e = logits.shape
    g = spec.group_size or max(1, e // 2)
    probs = jax.nn.softmax(logits, -1)
    group = jnp.argmax(probs.reshape(t, e // g, g).sum(-1), -1)  # top-1 group (one host)
    inside = jnp.take_along_axis(probs.reshape(t, e // g, g), group[:, None, None], 1)[:, 0]
    w, local = jax.lax.top_k(inside, spec.k)
    idx = local + group[:, None] * g
    mask = jnp.ones(idx.shape, bool)
    align = sam_alignment_loss(probs, group, w[:, -1], g)  # before normalising: tau is a probability
    if spec.normalize:
        w = w / jnp.sum(w, -1, keepdims=True)
    return _out(idx, w, mask, probs=probs, aux_loss=switch_loss(probs, idx, mask, spec.k), align_loss=align)


def _expert_choice(spec, logits, **_):
    t, e = logits.shape
    probs = jax.nn.softmax(logits, -1)
    c = ec_capacity(spec, t)
    _, tok = jax.lax.top_k(probs.T, c)  # [E, C] tokens chosen by each expert
    chosen = jnp.zeros((e, t), bool).at[jnp.arange(e)[:, None], tok].set(True).T  # [T, E]
    idx = jnp.broadcast_to(jnp.arange(e, dtype=jnp.int32), (t, e))
    return _out(idx, jnp.where(chosen, probs, 0.0), chosen, probs=probs)


def dts_temperature(spec: RouterSpec, step) -> jax.Array:
    """EvoMoE temperature schedule per update (fairseq_cli/train.py): exp or linear to tau_min at D."""
    step = jnp.asarray(step, jnp.float32)
    hi, lo, d = spec.tau_max, spec.tau_min, float(spec.tau_decay_steps)
    if spec.tau_schedule == "exp":
        return jnp.maximum(hi * jnp.exp(math.log(lo / hi) * step / d), lo)
    if spec.tau_schedule == "linear":
        return jnp.maximum(hi - step * (hi - lo) / d, lo)
    return jnp.asarray(hi, jnp.float32)


def _dts(spec, logits, *, key, step, train, **_):
    t, e = logits.shape
    probs = jax.nn.softmax(logits, -1)
    idx = jnp.broadcast_to(jnp.arange(e, dtype=jnp.int32), (t, e))
    if not train:  # EvoMoE eval: top-1 gating
        chosen = jax.nn.one_hot(jnp.argmax(logits, -1), e, dtype=bool)
        return _out(idx, jnp.where(chosen, probs, 0.0), chosen, probs=probs, aux_loss=jnp.zeros(()))
    tau = dts_temperature(spec, step)
    gumbel = jax.random.gumbel(key, logits.shape, jnp.float32)
    g = jax.nn.softmax((logits + gumbel) / tau, -1)
    soft = g > spec.threshold
    hard = jax.nn.one_hot(jnp.argmax(g, -1), e, dtype=bool)
    switched = (spec.switch_step >= 0) & (jnp.asarray(step) >= spec.switch_step)
    chosen = jnp.where(switched, hard, soft)
    gates = jnp.where(chosen, g if spec.use_gumbel_gates else probs, 0.0)
    aux = e * jnp.sum(gates.mean(0) * chosen.astype(jnp.float32).mean(0))  # E^2 mean_e(...)
    return _out(idx, gates, chosen, probs=probs, aux_loss=aux)


def _lossfree(spec, logits, *, state, **_):
    if state is None or "bias" not in state:
        raise MoEConfigError("router state", state, "{'bias': [E]} from init_state for 'lossfree'")
    scores = jax.nn.softmax(logits, -1) if spec.score == "softmax" else jax.nn.sigmoid(logits)
    bias = jax.lax.stop_gradient(state["bias"])
    _, idx = jax.lax.top_k(scores + bias, spec.k)  # bias affects selection only
    w = jnp.take_along_axis(scores, idx, -1)  # combine with the unbiased scores
    if spec.normalize:
        w = w / jnp.sum(w, -1, keepdims=True)
    mask = jnp.ones(idx.shape, bool)
    probs = scores / jnp.sum(scores, -1, keepdims=True)
    return _out(idx, w, mask, probs=probs, aux_loss=switch_loss(probs, idx, mask, spec.k))


def _out(index, weight, mask, **rest) -> dict:
    return {"index": index, "weight": weight, "mask": mask, **rest}


def _check_ktop1(spec: RouterSpec) -> None:
    if spec.num_experts % spec.k:
        raise MoEConfigError("moe.k", spec.k, f"a divisor of num_experts ({spec.num_experts}) for k-top-1")


def _check_sam(spec: RouterSpec) -> None:
    e, g = spec.num_experts, spec.group_size or max(1, spec.num_experts // 2)
    if e % g or not 1 <= spec.k <= g:
        raise MoEConfigError("moe.group_size", spec.group_size,
                             f"a divisor of num_experts ({e}) with k ({spec.k}) <= group_size")


def route(spec: RouterSpec, logits: jax.Array, *, state: dict | None = None, key=None, step=0,
          token_ids=None, train: bool = True) -> Routing:
    """Route T tokens given router logits [T, E]. `key` is needed when `spec.needs_key` (gshard-random, DTS)."""
    logits = logits.astype(jnp.float32)  # routers in float32 (flaxformer convention)
    t, e = logits.shape
    if e != spec.num_experts:
        raise MoEConfigError("logits.shape[-1]", e, f"num_experts = {spec.num_experts}")
    if spec.needs_key and train and key is None:
        raise MoEConfigError("key", None, f"a PRNG key for router {spec.name!r} in training")
    out = {"probs": jax.nn.softmax(logits, -1), "aux_loss": jnp.zeros((), jnp.float32),
           "align_loss": jnp.zeros((), jnp.float32)}
    out.update(spec.kind.route(spec, logits, state=state, key=key, step=step, token_ids=token_ids, train=train))
    idx, w, mask, probs, aux, align = (out[k] for k in ("index", "weight", "mask", "probs", "aux_loss",
                                                       "align_loss"))
    return Routing(index=idx.astype(jnp.int32), weight=w.astype(jnp.float32), mask=mask,
                   probs=probs, aux_loss=aux, z_loss=z_loss(logits), align_loss=align)


def update_state(spec: RouterSpec, state: dict, load: jax.Array, step=0) -> dict:
    """Loss-free balancing bias update after a step, outside the optimizer.

    load: tokens routed to each expert in the step (summed over devices/groups).
    sign: b += u * sign(mean - load); proportional: b += u * (mean - load) / mean;
    proportional_decay: the same with u / (1 + step / n0) (Han & Zhong dual step).
    """
    if not spec.kind.stateful:
        return state
    return spec.kind.update_state(spec, state, load, step)


def _lossfree_update(spec: RouterSpec, state: dict, load: jax.Array, step) -> dict:
    err = jnp.mean(load) - load
    if spec.bias_rule == "sign":
        delta = spec.bias_rate * jnp.sign(err)
    else:
        rate = spec.bias_rate
        if spec.bias_rule == "proportional_decay":
            rate = rate / (1.0 + jnp.asarray(step, jnp.float32) / spec.bias_decay_steps)
        delta = rate * err / jnp.maximum(jnp.mean(load), 1.0)
    return {**state, "bias": state["bias"] + delta.astype(jnp.float32)}


# ----------------------------------------------------------------------------------------------
# the registry


@dataclasses.dataclass(frozen=True)
class RouterKind:
    """One router: its routing function and the properties the layer, dispatch and trainers ask about."""

    route: Callable  # (spec, logits, *, state, key, step, token_ids, train) -> dict (see _out)
    doc: str
    slots: str = "k"  # slots per token: 'k', 'experts' (a data-dependent number, masked) or 'one'
    capacity: Callable = slot_capacity  # (spec, tokens, capacity_factor) -> per-expert capacity
    learned: bool = True  # routing depends on trained router weights (hash: a fixed map)
    aux_loss: bool = True  # computes a load-balance loss (weighted by the layer's aux_weight)
    causal: bool = True  # a token's route depends on that token only (expert-choice: on the whole group)
    stateful: bool = False  # has router state updated outside the optimizer (init_state / update_state)
    init_state: Callable | None = None
    update_state: Callable | None = None
    residual: bool = False  # output = alpha * expert(x) + (1 - alpha) * x
    groups: str = "none"  # expert groups: 'none', 'k_groups' (k groups of E/k, top-1 in each) or
    #                       'top_group' (the top-1 group of group_size experts, top-k inside it)
    needs_key: Callable = lambda spec: False  # whether routing in training draws random numbers
    check: Callable | None = None  # router-specific validation of a spec


@dataclasses.dataclass(frozen=True)
class Alias:
    """A config name for a router with some options set: `fixed` always, `defaults` unless given."""

    router: str
    fixed: dict
    defaults: dict = dataclasses.field(default_factory=dict)


KINDS: dict[str, RouterKind] = {
    "topk": RouterKind(_topk, "softmax top-k; k=1 is Switch, k=2 GShard top-2 (second_policy='random' optional)",
                       needs_key=lambda spec: spec.second_policy == "random"),
    "ktop1": RouterKind(_ktop1, "M6 expert prototyping: k groups of E/k experts, top-1 in each",
                        groups="k_groups", check=_check_ktop1),
    "hash": RouterKind(_hash, "fixed token-id -> expert map, no learned router", slots="one", learned=False,
                       aux_loss=False),
    "base": RouterKind(_base, "balanced assignment (Sinkhorn + balanced rounding), sigmoid residual mix; the "
                       "assignment balances the whole group, so it is not causal",
                       slots="one", capacity=lambda spec, tokens, cf: -(-tokens // spec.num_experts),
                       aux_loss=False, causal=False, residual=True),
    "sam": RouterKind(_sam, "switch-and-mixture: top-1 group of experts, then top-k inside it, + alignment loss",
                      groups="top_group", check=_check_sam),
    "expert_choice": RouterKind(_expert_choice, "experts pick their top-C tokens (not causal: sees future tokens)",
                                slots="experts", capacity=lambda spec, tokens, cf: ec_capacity(spec, tokens),
                                aux_loss=False, causal=False),
    "dts": RouterKind(_dts, "DTS-Gate: Gumbel-softmax, annealed temperature, threshold, optional switch to top-1",
                      slots="experts", capacity=lambda spec, tokens, cf: tokens,  # EvoMoE: nothing dropped
                      needs_key=lambda spec: True),
    "lossfree": RouterKind(_lossfree, "top-k on score + bias, combine with unbiased scores, bias updated "
                           "outside optax", stateful=True, update_state=_lossfree_update,
                           init_state=lambda spec: {"bias": jnp.zeros((spec.num_experts,), jnp.float32)}),
}
ALIASES: dict[str, Alias] = {
    "switch": Alias("topk", fixed={"k": 1}),
    "gshard": Alias("topk", fixed={"k": 2}, defaults={"normalize": True, "second_policy": "random"}),
}
ROUTERS = tuple(KINDS) + tuple(ALIASES)  # every accepted value of moe.router
