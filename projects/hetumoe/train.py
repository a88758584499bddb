"""HetuMoE's gate family (Nie et al., arXiv 2203.14685) and its hierarchical all_to_all, on the shared run.

Gates: lib/moe/routers.py (switch, gshard, ktop1, hash, base, sam); expert parallelism and the
hierarchical all_to_all: lib/moe/parallel.py; the run: lib/moe/lm.py.
"""
from lib.moe import lm


def train_and_evaluate(config, workdir: str) -> dict:
    return lm.train_and_evaluate(config, workdir)
