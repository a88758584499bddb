"""Reproduction at CPU scale: tinyshakespeare, 4-layer char LM, 8 experts, 300 steps, gate = dts | switch | top2.

python -m projects.dts_gate.reproduce
Scale vs the paper (GPT-MoE 1.5B on OpenWebText): ~0.2M params, 0.6M tokens. Claim checked: steps to reach
Switch's final validation loss (paper: 2.0x fewer with DTS-Gate).
"""
from configs.dts_gate.default import dts_config
from lib.config import parse_arg


def get_config(arg=None):
    c = dts_config(parse_arg(arg, gate="dts").gate, 300)
    c.data.source = "tinyshakespeare"
    c.model.num_layers, c.model.d_ff = 4, 256
    c.batch_size, c.warmup, c.eval_every, c.eval_batches, c.checkpoint_every = 32, 30, 25, 8, 100
    return c
