"""HetuMoE gate family at equal active expert parameters: tiny char LM on Python's pydoc_data topics.

python -m projects.hetumoe.main --config=configs/hetumoe/default.py:gate=base --workdir=runs/hetu_base
gate: switch | gshard | ktop1 | hash | base | sam | expert_choice. Active expert width is held at
ACTIVE_FF = 256: a gate with k experts per token gets experts of width 256 / k, so active expert parameters and
expert FLOPs per token are equal (expert_choice: capacity factor 1, i.e. on average one expert per token; it
lets experts pick among all tokens of the batch, future ones included, so it is not a causal LM gate).
a2a=flat|hierarchical turns on expert parallelism on a 2 x 4 (host x local) mesh (needs 8 devices).
"""
from lib.config import ConfigError, parse_arg
from lib.moe.tasks import default_config

GATES = ("switch", "gshard", "ktop1", "hash", "base", "sam", "expert_choice")
K = {"switch": 1, "gshard": 2, "ktop1": 2, "hash": 1, "base": 1, "sam": 2, "expert_choice": 1}
ACTIVE_FF = 256
NO_AUX = ("hash", "base", "expert_choice")  # balanced by construction or not learned: no balance loss


def hetu_config(gate: str, a2a: str, total: int):
    if gate not in GATES:
        raise ConfigError(f"config arg gate={gate!r}; allowed: {GATES}")
    if a2a not in ("none", "flat", "hierarchical"):
        raise ConfigError(f"config arg a2a={a2a!r}; allowed: ('none', 'flat', 'hierarchical')")
    c = default_config(project="hetumoe")
    c.total = total
    c.moe.router, c.moe.k = gate, K[gate]
    c.moe.d_ff = ACTIVE_FF // K[gate]
    c.moe.aux_weight = 0.0 if gate in NO_AUX else 0.01
    if gate == "sam":
        c.moe.router_kwargs.group_size = 4  # one group = the experts of one host on a 2 x 4 mesh
    if a2a != "none":
        c.mesh = (("host", 2), ("local", 4))
        c.moe.expert_parallel = True
        c.moe.expert_axes = ("host", "local")
        c.moe.hierarchical_a2a = a2a == "hierarchical"
        c.moe.num_groups = 8
    return c


def get_config(arg=None):
    a = parse_arg(arg, gate="switch", a2a="none")
    return hetu_config(a.gate, a.a2a, 40)
