"""ROD's students, ensemble teacher and losses, and the SGC / APPNP baselines (pure functions on dict params).

Students. Student k (k = 1..K) is a decoupled GNN: a 2-layer MLP on the precomputed Â^k X,
h_k = relu(drop(Â^k X) W1_k + b1_k), z_k = drop(h_k) W2_k + b2_k. The K students are stacked on a
leading axis and run as one batched matmul.

Teacher (reception-aware ensemble). Per node i, weights alpha_i (a distribution over the K reception
fields) combine the students: z_T,i = sum_k alpha_ik z_ik, rebuilt every step from the current
students (no separate teacher network). Two gates (config rod.gate):
  'learned'     s_ik = a . tanh(h_ik) + c_k (shared vector a, one bias per depth), alpha_i = softmax_k(s_i),
                trained by the teacher's own cross-entropy on the labelled nodes;
  'confidence'  alpha_i = softmax_k(-entropy(softmax(z_ik)) / gate_tau), no parameters, no gradient.

Losses per step (all nodes are visible, only train nodes have labels):
  task   CE of every student and of the teacher on the labelled nodes;
  kd     T^2 * KL(softmax(stop_grad(z_T)/T) || softmax(z_k/T)), every student, every real node;
  graph  reception-aware graph knowledge: student k's hidden states keep its k-hop structure:
         for a sampled pair (i, j) with j reached from i by a k-step random walk and a random
         node n, -log sig(cos(h_ik, h_jk)/tau) - log sig(-cos(h_ik, h_nk)/tau).
Inference uses the teacher (the ensemble).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib.graph.dropout import dropout as _cheap_dropout
from lib.graph.ops import spmm


def _glorot(key, shape):
    return jax.nn.initializers.glorot_uniform(in_axis=-2, out_axis=-1)(key, shape, jnp.float32)


def _dropout(key, x, rate):
    """lib.graph.dropout: 32 draws per random word at rate 0.5 (Bernoulli per element dominated the step)."""
    return _cheap_dropout(key, x, rate) if rate > 0.0 else x


def _masked_ce(logits, y, m):
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return jnp.sum(ce * m) / jnp.maximum(jnp.sum(m), 1.0)


# ----------------------------------------------------------------------------- ROD


def init_rod(key, num_students: int, num_features: int, hidden: int, num_classes: int):
    k1, k2, k3 = jax.random.split(key, 3)
    return {"w1": _glorot(k1, (num_students, num_features, hidden)), "b1": jnp.zeros((num_students, hidden)),
            "w2": _glorot(k2, (num_students, hidden, num_classes)), "b2": jnp.zeros((num_students, num_classes)),
            "gate_a": 0.1 * jax.random.normal(k3, (hidden,)), "gate_c": jnp.zeros((num_students,))}


def students(params, xs, key=None, dropout: float = 0.0):
    """xs [K, N, F] (Â^k X for k = 1..K) -> hidden [K, N, H], logits [K, N, C]."""
    train = key is not None and dropout > 0.0
    if train:
        k1, k2 = jax.random.split(key)
        xs = _dropout(k1, xs, dropout)
    h = jax.nn.relu(jnp.einsum("knf,kfh->knh", xs, params["w1"]) + params["b1"][:, None])
    hd = _dropout(k2, h, dropout) if train else h
    return h, jnp.einsum("knh,khc->knc", hd, params["w2"]) + params["b2"][:, None]


def reception_weights(h, gate_a, gate_c):
    """alpha [N, K]: per-node softmax over depths of a . tanh(h_k) + c_k; h [K, N, H]."""
    scores = jnp.einsum("knh,h->nk", jnp.tanh(h), gate_a) + gate_c[None]
    return jax.nn.softmax(scores, axis=-1)


def confidence_weights(logits, tau: float):
    """alpha [N, K]: per-node softmax over depths of -entropy(p_k)/tau, p_k = softmax(logits[k]);
    the depth whose prediction is surest at a node weighs most there. No parameters (cannot fit the
    few labels), held fixed in the backward pass."""
    logp = jax.nn.log_softmax(jax.lax.stop_gradient(logits), -1)
    ent = -jnp.sum(jnp.exp(logp) * logp, -1)  # [K, N]
    return jax.nn.softmax(-ent.T / tau, axis=-1)


def ensemble_weights(h, logits, params, gate: str, gate_tau: float):
    if gate == "learned":
        return reception_weights(h, params["gate_a"], params["gate_c"])
    return confidence_weights(logits, gate_tau)


def teacher_logits(logits, alpha):
    """z_T [N, C] = sum_k alpha[:, k] * logits[k]."""
    return jnp.einsum("nk,knc->nc", alpha, logits)


def kd_loss(teacher, logits, node_mask, temperature: float):
    """Mean over students and real nodes of T^2 KL(p_T || p_k), teacher held fixed."""
    t = jax.lax.stop_gradient(teacher) / temperature
    p_t = jax.nn.softmax(t, -1)
    kl = jnp.sum(p_t * (jax.nn.log_softmax(t, -1)[None] - jax.nn.log_softmax(logits / temperature, -1)), -1)
    return temperature ** 2 * jnp.sum(kl * node_mask[None]) / (logits.shape[0] * jnp.maximum(node_mask.sum(), 1.0))


def graph_loss(h, src, dst, neg, mask, tau: float):
    """h [K, N, H]; src/dst/neg/mask [K, B]: the walk-pair structure loss of each student (mean)."""
    hn = h / jnp.maximum(jnp.linalg.norm(h, axis=-1, keepdims=True), 1e-8)
    take = jax.vmap(lambda hk, idx: hk[idx])
    a, b, c = take(hn, src), take(hn, dst), take(hn, neg)
    pos = jax.nn.log_sigmoid(jnp.sum(a * b, -1) / tau)
    ngt = jax.nn.log_sigmoid(-jnp.sum(a * c, -1) / tau)
    return -jnp.sum((pos + ngt) * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def rod_loss(params, d, key, hp):
    """hp: dict of floats (dropout, kd_weight, temperature, graph_weight, tau, weight_decay) + ints."""
    kd_key, pair_key = jax.random.split(key)
    h, logits = students(params, d["xs"], kd_key, hp["dropout"])
    alpha = ensemble_weights(h, logits, params, hp["gate"], hp["gate_tau"])
    zt = teacher_logits(logits, alpha)
    y, m = d["y"], d["train"]
    task = jnp.mean(jax.vmap(lambda z: _masked_ce(z, y, m))(logits)) + _masked_ce(zt, y, m)
    kd = kd_loss(zt, logits, d["real"], hp["temperature"])
    parts = {"task": task, "kd": kd}
    loss = task + hp["kd_weight"] * kd
    if hp["graph_weight"] > 0:
        k_students, p = d["pair_src"].shape
        ka, kb = jax.random.split(pair_key)
        pick = jax.random.randint(ka, (k_students, hp["graph_batch"]), 0, p)
        take = jax.vmap(lambda arr, idx: arr[idx])
        neg = jax.random.randint(kb, (k_students, hp["graph_batch"]), 0, hp["num_real"])
        g = graph_loss(h, take(d["pair_src"], pick), take(d["pair_dst"], pick), neg,
                       take(d["pair_mask"], pick), hp["tau"])
        parts["graph"] = g
        loss = loss + hp["graph_weight"] * g
    l2 = jnp.sum(params["w1"] ** 2) + jnp.sum(params["w2"] ** 2)
    return loss + hp["weight_decay"] / 2 * l2, parts


def rod_predict(params, xs, gate: str = "learned", gate_tau: float = 1.0):
    h, logits = students(params, xs)
    alpha = ensemble_weights(h, logits, params, gate, gate_tau)
    return teacher_logits(logits, alpha), logits, alpha


# ----------------------------------------------------------------------------- SGC


def init_sgc(key, num_features: int, num_classes: int):
    return {"w": _glorot(key, (num_features, num_classes)), "b": jnp.zeros((num_classes,))}


def sgc_logits(params, x):
    return x @ params["w"] + params["b"]


def sgc_loss(params, d, key, hp):
    del key
    loss = _masked_ce(sgc_logits(params, d["xk"]), d["y"], d["train"])
    return loss + hp["weight_decay"] / 2 * jnp.sum(params["w"] ** 2), {"task": loss}


# ----------------------------------------------------------------------------- APPNP


def init_appnp(key, num_features: int, hidden: int, num_classes: int):
    k1, k2 = jax.random.split(key)
    return {"w1": _glorot(k1, (num_features, hidden)), "b1": jnp.zeros((hidden,)),
            "w2": _glorot(k2, (hidden, num_classes)), "b2": jnp.zeros((num_classes,))}


def appnp_logits(params, adj, x, alpha: float, hops: int, key=None, dropout: float = 0.0):
    """Predict (MLP), then propagate: Z_0 = H, Z_{t+1} = (1 - alpha) Â Z_t + alpha H, `hops` times."""
    train = key is not None and dropout > 0.0
    if train:
        k1, k2 = jax.random.split(key)
        x = _dropout(k1, x, dropout)
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    if train:
        h = _dropout(k2, h, dropout)
    h = h @ params["w2"] + params["b2"]
    z = jax.lax.fori_loop(0, hops, lambda _, z: (1.0 - alpha) * spmm(adj, z) + alpha * h, h)
    return z


def appnp_loss(params, d, key, hp):
    z = appnp_logits(params, d["adj"], d["x"], hp["alpha"], hp["hops"], key, hp["dropout"])
    loss = _masked_ce(z, d["y"], d["train"])
    l2 = jnp.sum(params["w1"] ** 2) + jnp.sum(params["w2"] ** 2)
    return loss + hp["weight_decay"] / 2 * l2, {"task": loss}
