"""DTS-Gate vs Switch vs top-2: tiny char LM on Python's pydoc_data topics (ships with Python).

python -m projects.dts_gate.main --config=configs/dts_gate/default.py:gate=dts --workdir=runs/dts
gate: dts (Gumbel-softmax, temperature annealed exp from tau_max to tau_min over tau_decay_steps, experts
with gate > 1e-3, top-1 from switch_step on) | switch (top-1 + aux loss) | top2 (GShard top-2 + aux loss).
The paper's tau values and switch step were not found (MOE.md section 2); the EvoMoE code defaults are
tau_max 1.0, tau_min 0.5; the decay length and switch step here are fractions of the run (placeholders).
"""
from ml_collections import ConfigDict

from configs.lossfree_balance.default import base_config
from lib.config import ConfigError, parse_arg

GATES = ("dts", "switch", "top2")


def dts_config(gate: str, total: int):
    c = base_config("aux", project="dts_gate")
    c.total = total
    if gate == "dts":
        c.moe.router = "dts"
        c.moe.router_kwargs = ConfigDict({"tau_schedule": "exp", "tau_max": 1.0, "tau_min": 0.5,
                                          "tau_decay_steps": max(1, total // 2), "threshold": 1e-3,
                                          "switch_step": int(total * 0.6)})
        c.moe.k = 1
    elif gate == "switch":
        c.moe.router, c.moe.k = "switch", 1
    elif gate == "top2":
        c.moe.router, c.moe.k = "gshard", 2
    else:
        raise ConfigError(f"config arg gate={gate!r}; allowed: {GATES}")
    return c


def get_config(arg=None):
    return dts_config(parse_arg(arg, gate="dts").gate, 40)
