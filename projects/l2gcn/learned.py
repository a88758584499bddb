"""L²-GCN: L-GCN whose epochs per layer are decided by a learned controller (projects/l2gcn/controller.py).

One run under lib.train.run, two phases in one step counter (so one checkpoint stream resumes either):

1. Search, steps 0 .. episodes-1 (one step = one episode). An episode is a short layer-wise training
   run from fresh weights on a random subset of `controller.sample_nodes` training nodes (full batch,
   Adam, as the reference code's search): at each slot t the current layer trains `decision_step`
   epochs, then the controller samples continue/stop; stop moves to the next layer (or ends the
   episode after the last one). cost = final training loss + time_ratio * epochs; one REINFORCE update.
   The first `warmup_episodes` follow predefined stop slots (the reference's warm-up).
2. Controlled L-GCN, steps episodes .. episodes+length-1 (one step = one decision slot). The current
   layer trains `decision_step` epochs of minibatches exactly as mode=layerwise does, then the
   controller reads the loss: the layer stops when P(stop) >= threshold and it has trained
   >= min_epochs, or once it has trained >= max_epochs. Slots after the last layer stops are no-ops.
In both phases a layer is forced to stop when the slots left are only enough for one each for the
layers after it (so every layer trains; needs length >= layers). The threshold is
`controller.threshold`, or with `threshold_from_search` the mean stop probability over the search
decisions (what the reference code does; its config's 0.6 is overwritten).

Determinism: episode e draws from fold_in(key(seed), 1), e and numpy rng [seed, 2**20, e]; slot t of
phase 2 from fold_in(key(seed), 2), t; phase 2's minibatches are mode=layerwise's. The schedule
(layer, epoch in layer, slot, controller carry, previous action, loss at slot 0, epochs per layer)
lives in the state; the current layer's propagated input is recomputed from the frozen layers after a
resume. So an interrupted run continues bit for bit in either phase.
"""
from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lib import config as config_lib
from lib import train as train_lib
from projects.l2gcn import controller as ctl
from projects.l2gcn import train as lgcn


def validate(config) -> None:
    c = "controller."
    length = config_lib.integer(config, c + "length", 1, "decision slots of the controller")
    layers = len(tuple(config.epochs_per_layer))
    if length < layers:
        raise config_lib.ConfigError(f"config.controller.length={length} must be >= the number of layers "
                                     f"({layers}): every layer needs at least one decision slot")
    thr = config_lib.get(config, c + "threshold")
    if not (isinstance(thr, (int, float)) and not isinstance(thr, bool) and 0.0 < thr < 1.0):
        raise config_lib.ConfigError(f"config.controller.threshold={thr!r} must be a stop probability in (0, 1)")
    for key, lo in (("decision_step", 1), ("episodes", 0), ("warmup_episodes", 0), ("sample_nodes", 1),
                    ("min_epochs", 0), ("max_epochs", 1), ("hidden", 1), ("embed", 1)):
        config_lib.integer(config, c + key, lo)
    if config.controller.min_epochs > config.controller.max_epochs:
        raise config_lib.ConfigError(f"config.controller.min_epochs={config.controller.min_epochs} must be <= "
                                     f"config.controller.max_epochs={config.controller.max_epochs}")
    if config.controller.threshold_from_search and config.controller.episodes < 1:
        raise config_lib.ConfigError("config.controller.threshold_from_search=True needs controller.episodes >= 1")
    config_lib.positive(config, c + "learning_rate")
    config_lib.positive(config, c + "time_ratio", allow_zero=True)
    config_lib.in_range(config, c + "baseline_ratio", 0.0, 1.0)


def _forced(t, length, layer, num_layers):
    """The slots after t are only enough for one each for the layers after `layer`."""
    return length - 1 - t < num_layers - layer


def warmup_slots(seed, episode, length, num_layers):
    """Predefined stop slots of a warm-up episode (the reference's scheme): every fifth episode splits
    the slots evenly between layers, the others stop at random slots; the last layer at the last slot."""
    if episode % 5 == 4:
        stops = [int(length / num_layers * (l + 1)) - 1 for l in range(num_layers - 1)]
    else:
        rng = np.random.default_rng([seed, 2 ** 20 + 1, episode])
        stops = sorted(rng.choice(length - 1, num_layers - 1, replace=False).tolist())
    return set(stops + [length - 1])


@functools.lru_cache(maxsize=8)
def block_fn(decision_step: int, learning_rate: float, weight_decay: float):
    """`decision_step` full-batch Adam updates of one layer on the episode's rows (search phase)."""
    tx = optax.adam(learning_rate)

    @jax.jit
    def block(p, opt, x, y):
        m = jnp.ones(y.shape[0])

        def body(_, c):
            p, opt, _ = c
            (_, loss), g = jax.value_and_grad(lgcn.layer_loss, has_aux=True)(p, x, y, m, weight_decay)
            upd, opt = tx.update(g, opt, p)
            return optax.apply_updates(p, upd), opt, loss
        p, opt, _ = jax.lax.fori_loop(0, decision_step, body, (p, opt, jnp.float32(0.0)))
        return p, opt, lgcn.layer_loss(p, x, y, m, weight_decay)[1]  # loss after the block
    return block, tx


def train_and_evaluate(config, workdir: str, run: dict, stop_at: int | None = None) -> dict:
    """`stop_at`: end this call after that many steps (an interruption, for tests); rerun to resume."""
    cc = config.controller
    data, info, train_idx = run["data"], run["info"], run["train_idx"]
    num_layers, length, ds = len(config.epochs_per_layer), int(cc.length), int(cc.decision_step)
    episodes = int(cc.episodes)
    lr, wd = float(config.learning_rate), float(config.weight_decay)
    c_init, decide, c_update = ctl.functions(length, int(cc.hidden), int(cc.embed), num_layers,
                                             float(cc.learning_rate), float(cc.baseline_ratio))
    steps = [lgcn.layer_step(i, lr, wd) for i in range(num_layers)]
    block, block_tx = block_fn(ds, lr, wd)
    spe, _, _ = lgcn.schedule(config, info["num_train"])
    nf, hidden, ncls = data["x"].shape[1], int(config.model.hidden), run["num_classes"]
    root = jax.random.key(config.seed)
    h0 = lgcn.layer_inputs(data["adj"], data["x"], [], 0)[0]  # Â X, shared by every episode

    state = lgcn.init_layerwise(config.seed, nf, hidden, ncls, num_layers, steps[0][1])
    state["ctrl"] = c_init(jax.random.fold_in(root, 0), float(cc.baseline_reward))
    state["sched"] = {"layer": jnp.int32(0), "epoch": jnp.int32(0), "t": jnp.int32(0), "prev": jnp.int32(0),
                      "carry": ctl.zero_carry(int(cc.hidden)), "loss_base": jnp.float32(0.0),
                      "loss": jnp.float32(0.0), "done": jnp.int32(0),
                      "epochs": jnp.zeros(num_layers, jnp.int32), "stop_prob": jnp.zeros(length, jnp.float32)}
    timing = {"search_s": 0.0, "controlled_s": 0.0}
    cache: dict = {}

    def episode(st, e):
        t0 = time.perf_counter()
        key = jax.random.fold_in(jax.random.fold_in(root, 1), e)
        rng = np.random.default_rng([config.seed, 2 ** 20, e])
        rows = rng.choice(train_idx, min(int(cc.sample_nodes), train_idx.size), replace=False)
        y = data["y"][rows]
        params = lgcn.init_layerwise(0, nf, hidden, ncls, num_layers, block_tx,
                                     key=jax.random.fold_in(key, length))["params"]
        warm = set() if e >= int(cc.warmup_episodes) else warmup_slots(config.seed, e, length, num_layers)
        h, layer, carry, prev, base = h0, 0, ctl.zero_carry(int(cc.hidden)), 0, None
        p, opt = params[0], block_tx.init(params[0])
        rec = {"feat": np.zeros((length, num_layers + 1), np.float32), "prev": np.zeros(length, np.int32),
               "t": np.arange(length, dtype=np.int32), "action": np.zeros(length, np.int32),
               "mask": np.zeros(length, np.float32)}
        sps, epochs_run = [], 0
        for t in range(length):
            p, opt, loss = block(p, opt, h[rows], y)
            epochs_run += ds
            base = loss if base is None else base
            feat = ctl.features(loss, base, layer, num_layers)
            carry, sp, a = decide(st["ctrl"]["params"], carry, feat, jnp.int32(prev), jnp.int32(t),
                                  jax.random.fold_in(key, t))
            sps.append(sp)
            a = int(a) if not warm else int(t in warm)
            forced = _forced(t, length, layer, num_layers)
            rec["feat"][t], rec["prev"][t], rec["action"][t] = np.asarray(feat), prev, 1 if forced else a
            rec["mask"][t] = 0.0 if forced else 1.0
            prev = 1 if forced else a
            if prev == 1:
                if layer == num_layers - 1:
                    break
                h = lgcn._propagate(data["adj"], lgcn.layer_output(p, h))
                layer += 1
                p, opt = params[layer], block_tx.init(params[layer])
        cost = loss + float(cc.time_ratio) * epochs_run
        new = c_update(st["ctrl"], rec, cost)
        new["stop_prob_sum"] = st["ctrl"]["stop_prob_sum"] + jnp.sum(jnp.stack(sps))
        new["decisions"] = st["ctrl"]["decisions"] + len(sps)
        timing["search_s"] += time.perf_counter() - t0
        return {**st, "step": st["step"] + 1, "ctrl": new}, {"loss": cost, "episode_epochs": epochs_run}

    def threshold(st):
        if cc.threshold_from_search:
            return float(st["ctrl"]["stop_prob_sum"] / st["ctrl"]["decisions"])
        return float(cc.threshold)

    def controlled(st, t):
        s = st["sched"]
        if int(s["done"]):
            return {**st, "step": st["step"] + 1}, {"loss": s["loss"]}
        t0 = time.perf_counter()
        layer, e0 = int(s["layer"]), int(s["epoch"])
        if layer not in cache:
            cache.clear()
            cache[layer] = jax.block_until_ready(lgcn.layer_inputs(data["adj"], data["x"], st["params"], layer)[-1])
        h = cache[layer]
        inner = {"step": jnp.int32(0), "params": st["params"], "opt_state": st["opt_state"]}
        for ep in range(e0, e0 + ds):
            for i in range(spe):
                idx, mask = lgcn.epoch_batch(config, train_idx, layer, ep, i)
                inner, m = steps[layer][0](inner, {"x": h[idx], "y": data["y"][idx], "m": jnp.asarray(mask)})
        loss = m["loss"]  # the epoch's last minibatch loss, as the reference feeds it
        base = loss if t == 0 else s["loss_base"]
        carry, sp, a = decide(st["ctrl"]["params"], s["carry"], ctl.features(loss, base, layer, num_layers),
                              s["prev"], jnp.int32(t), jax.random.fold_in(jax.random.fold_in(root, 2), t))
        trained = e0 + ds
        stop = ((float(sp) >= threshold(st) and trained >= cc.min_epochs) or trained >= cc.max_epochs
                or _forced(t, length, layer, num_layers))
        sched = {**s, "t": jnp.int32(t + 1), "prev": a, "carry": carry, "loss_base": base, "loss": loss,
                 "stop_prob": s["stop_prob"].at[t].set(sp), "epoch": jnp.int32(0 if stop else trained)}
        if stop:
            sched["epochs"] = s["epochs"].at[layer].set(trained)
            if layer == num_layers - 1:
                sched["done"] = jnp.int32(1)
            else:
                sched["layer"] = jnp.int32(layer + 1)
        timing["controlled_s"] += time.perf_counter() - t0
        return ({**st, "step": st["step"] + 1, "params": inner["params"], "opt_state": inner["opt_state"],
                 "sched": sched}, {"loss": loss, "stop_prob": sp})

    def step_fn(st, step):
        return episode(st, step) if step < episodes else controlled(st, step - episodes)

    last: dict = {}

    def eval_fn(st):
        last["state"] = st  # the final call sees the final state (also when nothing was left to run)
        return lgcn.evaluate_layerwise(data["adj"], data["x"], st["params"], data)

    final = train_lib.run(config, workdir, state=state, step_fn=step_fn, batch_fn=lambda s: s,
                          num_steps=stop_at or episodes + length, eval_fn=eval_fn, desc=f"l2gcn/{config.dataset}/l2gcn")
    st = last["state"]
    epochs = [int(x) for x in np.asarray(st["sched"]["epochs"])]
    t_used = int(st["sched"]["t"])
    final.update(info, steps_per_epoch=spe, epochs_per_layer_used=epochs, epochs_used=sum(epochs),
                 updates=sum(epochs) * spe, decisions=t_used,
                 stop_threshold=threshold(st),
                 stop_probs=[float(x) for x in np.asarray(st["sched"]["stop_prob"])[:t_used]], **timing)
    return final
