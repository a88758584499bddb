"""DTS-Gate (Nie et al., EvoMoE, arXiv 2112.14397): the trainer, read top to bottom.

The method. The gate (lib/moe/routers.py 'dts') starts dense and becomes sparse: in training every
expert whose Gumbel-softmax gate softmax((logits + Gumbel) / tau) exceeds a threshold (1e-3) is
used, with the temperature tau annealed from tau_max to tau_min over `tau_decay_steps`; from
`switch_step` on only the top-1 expert; at eval always top-1. tau is a pure function of the step
(routers.dts_temperature) and the Gumbel noise of step s comes from fold_in(rng, s), so both are
reproduced on resume; the temperature of the last step is kept in the state and logged as `tau`.
The baselines, same model and data: Switch (top-1 + aux loss) and GShard top-2.

The pieces shared with the other MoE projects (corpus, model, AdamW, loss, eval) come from
lib/moe/tasks.py; the loop (checkpoints, resume, eval, logging) from lib/train.py.

State (all checkpointed): step, params, opt_state, moe_state (empty for these routers), rng, tau.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lib import train as train_lib
from lib.moe import routers, tasks


def train_and_evaluate(config, workdir: str) -> dict:
    task = tasks.load_task(config, router_state=False)
    tx, schedule = tasks.optimizer(config)
    router = task.spec.router
    state = tasks.place_state(task, {"step": jnp.int32(0), "params": task.params,
                                     "opt_state": tx.init(task.params), "moe_state": task.moe_state, "rng": task.rng,
                                     "tau": jnp.float32(router.tau_max)})

    @jax.jit
    def train_step(state, batch):
        step = state["step"]
        key = jax.random.fold_in(state["rng"], step)  # the step's Gumbel noise (and GShard's random 2nd expert)
        params, opt_state, out = tasks.optimizer_step(task.model, tx, state["params"], state["opt_state"],
                                                      state["moe_state"], batch, step, key)
        tau = routers.dts_temperature(router, step)  # the temperature this step routed with
        metrics = {**tasks.train_metrics(out, schedule(step)), "tau": tau}
        return {**state, "step": step + 1, "params": params, "opt_state": opt_state,
                "tau": tau.astype(jnp.float32)}, metrics

    return train_lib.run(config, workdir, state=state, step_fn=train_step, batch_fn=task.batch_fn,
                         num_steps=config.total, eval_fn=tasks.make_eval(task, config),
                         examples_per_step=config.batch_size * config.model.seq_len,
                         summary_fn=tasks.throughput_summary(config, task.corpus.vocab_size),
                         desc=f"{config.project}/{config.moe.router}")
