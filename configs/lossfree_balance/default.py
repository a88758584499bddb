"""Loss-free balancing vs Switch aux loss vs none: tiny char LM on Python's pydoc_data topics (ships with Python).

python -m projects.lossfree_balance.main --config=configs/lossfree_balance/default.py:balance=lossfree --workdir=runs/lfb
balance: lossfree (top-k on score + bias, bias updated outside the optimizer) | aux (Switch loss 0.01) | none.
What the tests run: ~40 steps, well under a minute on 2 CPU cores.
"""
from ml_collections import ConfigDict, config_dict

from lib.config import parse_arg

BALANCE = ("lossfree", "aux", "none")


def base_config(balance: str, project: str = "lossfree_balance"):
    c = ConfigDict()
    c.project = project
    c.seed = 0
    c.data = ConfigDict({"source": "pydoc_topics", "val_fraction": 0.1, "max_chars": 0})
    c.data_dir = config_dict.placeholder(str)
    c.mesh = (("data", -1),)
    c.model = ConfigDict({"d_model": 64, "num_heads": 4, "num_layers": 2, "d_ff": 128, "seq_len": 64,
                          "moe_every": 2})
    c.moe = ConfigDict({
        "router": "lossfree" if balance == "lossfree" else "topk",
        "num_experts": 8, "k": 2,
        # bias_rate u: 1e-3 in Wang et al. for long runs; larger here for a few hundred steps
        "router_kwargs": ConfigDict({"bias_rate": 0.01, "bias_rule": "sign"} if balance == "lossfree" else {}),
        "dispatch": "capacity", "capacity_factor": 1.25, "num_groups": 1,
        "aux_weight": 0.01 if balance == "aux" else 0.0, "z_weight": 0.0,
        "align_weight": 0.0,  # SAM's alignment loss (router=sam only)
        "expert_parallel": False, "expert_axes": ("expert",), "hierarchical_a2a": False,
    })
    c.batch_size = 16
    c.lr = 3e-3
    c.weight_decay = 0.01
    c.warmup = 10
    c.total = 40
    c.eval_batches = 4
    c.log_every = 10
    c.eval_every = 20
    c.checkpoint_every = 20
    c.keep_checkpoints = 3
    c.init_from = config_dict.placeholder(str)
    return c


def get_config(arg=None):
    a = parse_arg(arg, balance="lossfree")
    if a.balance not in BALANCE:
        from lib.config import ConfigError
        raise ConfigError(f"config arg balance={a.balance!r}; allowed: {BALANCE}")
    return base_config(a.balance)
