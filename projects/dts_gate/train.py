"""DTS-Gate (Nie et al., EvoMoE, arXiv 2112.14397) on the shared MoE char-LM run.

The gate is lib/moe/routers.py 'dts' (Gumbel-softmax with an annealed temperature, experts above a
1e-3 threshold, top-1 from a configured step, top-1 at eval); its temperature is a pure function of the
step and the Gumbel noise uses fold_in(rng, step), both in the checkpointed state (lib/moe/lm.py).
"""
from lib.moe import lm


def train_and_evaluate(config, workdir: str) -> dict:
    return lm.train_and_evaluate(config, workdir)
