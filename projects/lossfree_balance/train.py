"""Loss-free balancing (Wang et al., arXiv 2408.15664) on the shared MoE char-LM run.

The method itself lives in lib/moe/routers.py ('lossfree': top-k on score + bias, combine with the
unbiased scores, bias_i += u * sign(mean load - load_i) after every step, outside the optimizer);
the run (data, model, step, bias update, checkpointed state) in lib/moe/lm.py. This project
compares it with the Switch aux loss and with no balancing.
"""
from lib.moe import lm


def train_and_evaluate(config, workdir: str) -> dict:
    return lm.train_and_evaluate(config, workdir)
