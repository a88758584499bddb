"""Reproduction at CPU scale: tinyshakespeare, 2-layer char LM (1 MoE layer, 8 experts), 150 steps, gate = dts | switch | top2.

python -m projects.dts_gate.reproduce          # the three runs (resumable) + results/dts_gate.json + README table
single run: python -m projects.dts_gate.main --config=configs/dts_gate/shakespeare.py:gate=dts --workdir=runs/dts
Scale vs the paper (GPT-MoE 1.5B on OpenWebText, 40 GB): ~0.1M params, 150 x 16 x 64 = 154k characters.
Sized for a 2-core CPU shared with ~6 other jobs (about 1 step/s under nice). DTS: tau 1.0 -> 0.5 linear over
steps 0-75, top-1 from step 90 (placeholders, see default.py). Claim checked: steps to reach Switch's final
validation loss (paper: 2.0x fewer with DTS-Gate).
"""
from configs.dts_gate.default import dts_config
from lib.config import parse_arg


def get_config(arg=None):
    a = parse_arg(arg, gate="dts", steps=150)  # steps=1000: the longer run (results/dts_gate_1000.json)
    c = dts_config(a.gate, a.steps)
    c.data.source = "tinyshakespeare"
    c.model.num_layers, c.model.d_ff = 2, 256
    c.batch_size, c.warmup, c.eval_every, c.eval_batches, c.checkpoint_every = 16, 15, 15, 4, 50
    if a.steps > 150:
        c.eval_every, c.checkpoint_every = 25, 100
    c.log_every = 10
    return c
