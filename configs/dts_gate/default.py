"""DTS-Gate vs Switch vs top-2: tiny char LM on Python's pydoc_data topics (ships with Python).

python -m projects.dts_gate.main --config=configs/dts_gate/default.py:gate=dts --workdir=runs/dts
gate: dts (Gumbel-softmax, temperature annealed from tau_max to tau_min over tau_decay_steps, experts
with gate > 1e-3, top-1 from switch_step on) | switch (top-1 + aux loss 0.01) | top2 (GShard top-2 + aux 0.01).

DTS values, checked against the EvoMoE code (github.com/codecaution/EvoMoE):
- schedule 'linear': the GPT launcher of the paper's LM setting (scripts/pretrain_gptxl_gumbel_MoE.sh) passes
  `--gumbel-decay-scheduler Linear`; the code's own default is no schedule.
- gate loss weight 0: the same launcher passes `--moe-gate-loss-wt 0` (the DTS aux loss is computed, not used).
- threshold 1e-3: hard-coded in the code's gate.
- tau_max 1.0, tau_min 0.5, decay length, switch step: the launcher takes them from environment variables
  whose values are not in the repository, and the paper's values were not found; the code defaults
  (tau 1.0 -> 0.5) are used, with the decay over the first half of the run and the switch to top-1 at 60 %
  (placeholders of ours, not the paper's).
"""
from ml_collections import ConfigDict

from lib.config import ConfigError, parse_arg
from lib.moe.tasks import default_config

GATES = ("dts", "switch", "top2")
DECAY_FRACTION = 0.5  # tau reaches tau_min at this fraction of the run (placeholder, see docstring)
SWITCH_FRACTION = 0.6  # top-1 from this fraction of the run on (placeholder, see docstring)


def dts_config(gate: str, total: int):
    if gate not in GATES:
        raise ConfigError(f"config arg gate={gate!r}; allowed: {GATES}")
    c = default_config(project="dts_gate")
    c.moe.aux_weight = 0.01
    c.total = total
    if gate == "dts":
        c.moe.router = "dts"
        c.moe.router_kwargs = ConfigDict({"tau_schedule": "linear", "tau_max": 1.0, "tau_min": 0.5,
                                          "tau_decay_steps": max(1, int(total * DECAY_FRACTION)),
                                          "threshold": 1e-3, "switch_step": int(total * SWITCH_FRACTION)})
        c.moe.k = 1
        c.moe.aux_weight = 0.0  # EvoMoE GPT launcher: --moe-gate-loss-wt 0
    elif gate == "switch":
        c.moe.router, c.moe.k = "switch", 1
    else:
        c.moe.router, c.moe.k = "gshard", 2
    return c


def get_config(arg=None):
    return dts_config(parse_arg(arg, gate="dts").gate, 40)
