"""HetuMoE (Nie et al., arXiv 2203.14685): its gate family on one char LM, and the hierarchical all_to_all.

The method is a set of gates and a communication pattern, both in lib because any MoE model may
use them: the gates are lib/moe/routers.py (switch, gshard, ktop1, hash, base, sam, expert_choice),
expert parallelism with the flat or hierarchical all_to_all is lib/moe/parallel.py (turned on by
`moe.expert_parallel` and `moe.hierarchical_a2a`). This project compares the gates at equal active
expert parameters (configs/hetumoe: a gate with k experts per token gets experts of width 256 / k),
and projects/hetumoe/a2a_check.py checks the hierarchical exchange against the flat one.

The trainer is the plain one: cross-entropy plus each gate's own balance loss, AdamW. The pieces
(corpus, model, optimizer, loss, eval) come from lib/moe/tasks.py, the loop from lib/train.py.
None of these gates has router state, so a stateful router is refused before anything compiles.

State (all checkpointed): step, params, opt_state, moe_state (empty for these gates), rng (step s
routes with fold_in(rng, s): GShard's random second expert).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lib import train as train_lib
from lib.moe import tasks


def train_and_evaluate(config, workdir: str) -> dict:
    task = tasks.load_task(config, router_state=False)
    tx, schedule = tasks.optimizer(config)
    state = tasks.place_state(task, {"step": jnp.int32(0), "params": task.params,
                                     "opt_state": tx.init(task.params), "moe_state": task.moe_state, "rng": task.rng})

    @jax.jit
    def train_step(state, batch):
        step = state["step"]
        key = jax.random.fold_in(state["rng"], step)
        params, opt_state, out = tasks.optimizer_step(task.model, tx, state["params"], state["opt_state"],
                                                      state["moe_state"], batch, step, key)
        return ({**state, "step": step + 1, "params": params, "opt_state": opt_state},
                tasks.train_metrics(out, schedule(step)))

    return train_lib.run(config, workdir, state=state, step_fn=train_step, batch_fn=task.batch_fn,
                         num_steps=config.total, eval_fn=tasks.make_eval(task, config),
                         examples_per_step=config.batch_size * config.model.seq_len,
                         summary_fn=tasks.throughput_summary(config, task.corpus.vocab_size),
                         desc=f"{config.project}/{config.moe.router}")
