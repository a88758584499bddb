"""Loss-free balancing (Wang et al., arXiv 2408.15664): the trainer, read top to bottom.

The method. Every MoE layer's router (lib/moe/routers.py 'lossfree') picks its top-k experts by
score + bias; the bias changes which experts are chosen, never the combine weights (those are the
unbiased scores), and gets no gradient. After every optimizer step each layer's bias moves toward
balance from the load that layer saw in the step: bias_i += u * sign(mean load - load_i)
(`update_router_state` below; the proportional rules are options of the router). The baselines,
same model and data: the Switch auxiliary loss (balance=aux) and no balancing (balance=none).

The pieces shared with the other MoE projects (corpus, model, AdamW, loss, eval) come from
lib/moe/tasks.py; the loop (checkpoints, resume, eval, logging) from lib/train.py.

State (all checkpointed, so resume is bit-exact): step, params, opt_state, moe_state (the router
biases: a flax collection outside the optimizer), rng (step s routes with fold_in(rng, s)).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lib import train as train_lib
from lib.moe import routers, tasks


def update_router_state(spec, moe_state, intermediates, step):
    """Each MoE layer's bias update from the load its layer sowed this step (outside the optimizer)."""
    if not spec.router.has_state:  # balance=aux / none: a router without a bias
        return moe_state
    new = {}
    for block, sub in moe_state.items():
        load = intermediates[block]["moe"]["load"][0]
        new[block] = {"moe": {"router": routers.update_state(spec.router, sub["moe"]["router"], load, step)}}
    return new


def train_and_evaluate(config, workdir: str) -> dict:
    task = tasks.load_task(config)
    tx, schedule = tasks.optimizer(config)
    state = tasks.place_state(task, {"step": jnp.int32(0), "params": task.params,
                                     "opt_state": tx.init(task.params), "moe_state": task.moe_state, "rng": task.rng})

    @jax.jit
    def train_step(state, batch):
        step = state["step"]
        key = jax.random.fold_in(state["rng"], step)
        params, opt_state, out = tasks.optimizer_step(task.model, tx, state["params"], state["opt_state"],
                                                      state["moe_state"], batch, step, key)
        moe_state = update_router_state(task.spec, state["moe_state"], out.intermediates, step)
        metrics = tasks.train_metrics(out, schedule(step))
        metrics["bias_norm"] = optax.global_norm(moe_state)  # 0 without a bias
        return {**state, "step": step + 1, "params": params, "opt_state": opt_state, "moe_state": moe_state}, metrics

    return train_lib.run(config, workdir, state=state, step_fn=train_step, batch_fn=task.batch_fn,
                         num_steps=config.total, eval_fn=tasks.make_eval(task, config),
                         examples_per_step=config.batch_size * config.model.seq_len,
                         summary_fn=tasks.throughput_summary(config, task.corpus.vocab_size),
                         desc=f"{config.project}/{config.moe.router}")
