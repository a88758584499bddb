"""A realistic MoE LM for throughput: d_model 1024, 8 layers, every layer MoE (8 experts, top-2, expert
width 4096, loss-free balancing), seq 512, bf16 compute with float32 master weights, ~570M parameters
(~170M active per token).

    python -m projects.lossfree_balance.main --config=configs/lossfree_balance/large.py --workdir=runs/lfb_large
    # GPU/TPU; on a CPU add e.g. --config.batch_size=1 --config.total=3 (it runs, slowly)

The run reports tokens/s and model FLOPs utilisation (final_metrics.json: tokens_per_s, model_tflops_per_s,
mfu), FLOPs counted from the model by lib.moe.tasks.flops_per_token. Data: Python's pydoc topics
(ships with Python), enough for a throughput run; `--config.data.source=tinyshakespeare` for a real corpus.
"""
from configs.lossfree_balance.default import balance_config
from lib.config import parse_arg


def get_config(arg=None):
    c = balance_config(parse_arg(arg, balance="lossfree").balance)
    c.model.d_model, c.model.num_heads, c.model.num_layers = 1024, 16, 8
    c.model.d_ff, c.model.seq_len, c.model.moe_every = 4096, 512, 1
    c.moe.num_experts, c.moe.k = 8, 2
    c.compute_dtype = "bfloat16"
    c.model.remat = "none"
    c.batch_size = 32
    c.lr = 3e-4
    c.total = 30
    c.warmup = 5
    c.eval_batches = 2
    c.log_every = 10
    c.eval_every = 30
    c.checkpoint_every = 1000
    return c
