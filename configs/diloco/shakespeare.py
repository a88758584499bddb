"""DiLoCo vs its one-step-delayed variant vs synchronous data parallelism on tinyshakespeare
(character level), k = 4 workers, each on a contiguous quarter of the train text.

Paper (Douillard et al. 2023): C4, 60M-400M-parameter decoders, k = 8, H = 500, 88k inner steps.
Here (2 shared CPU cores): a 2-layer d=64 char transformer (~0.1M parameters), sequences of 64,
batch 8 per worker, k = 4, 600 inner steps per worker (H x rounds), the same data and compute for
every method; WAN of 10 MB/s and 50 ms latency per message, 0.1 virtual s per inner step.

    python -m projects.diloco.report --run     # every variant (resumable), then the README tables

or one: python -m projects.diloco.main --config=configs/diloco/shakespeare.py:diloco_h50 --workdir=runs/dl
`get_config(arg)`, arg = "<method>[_h<H>][_mu<outer momentum digits>][_austen]" (e.g. sync_dp, diloco_h50,
diloco_delayed_h50, diloco_delayed_h50_mu05 (outer momentum 0.5), diloco_h10_austen).
"""

from configs.diloco import default

TOTAL_INNER_STEPS = 600


def get_config(arg=None):
    arg = arg or "diloco_h50"
    c = default.get_config("diloco")
    parts = arg.split("_")
    if parts[-1] == "austen":
        c.dataset, parts = "austen", parts[:-1]
    else:
        c.dataset = "tinyshakespeare"
    mu = None
    if parts[-1].startswith("mu") and parts[-1][2:].isdigit():  # e.g. mu05: outer momentum 0.5
        mu, parts = float("0." + parts[-1][3:]) if parts[-1][2] == "0" else float(parts[-1][2:]), parts[:-1]
    h = 50
    if parts[-1].startswith("h") and parts[-1][1:].isdigit():
        h, parts = int(parts[-1][1:]), parts[:-1]
    c.method = "_".join(parts)
    if c.method == "sync_dp":
        h = 50  # the same round length: one eval per 50 steps
    if c.method not in ("diloco", "diloco_delayed", "sync_dp") or TOTAL_INNER_STEPS % h:
        raise ValueError(f"unknown config arg {arg!r}: <diloco|diloco_delayed|sync_dp>[_h<H dividing "
                         f"{TOTAL_INNER_STEPS}>][_austen]")
    c.max_chars = None
    c.seq_len = 64
    c.batch_size = 8
    c.eval_batch_size = 64
    c.eval_batches = 16
    c.model.update({"d_model": 64, "num_heads": 4, "num_layers": 2, "d_ff": 256})
    c.num_workers = 4
    c.inner_steps = h
    c.num_rounds = TOTAL_INNER_STEPS // h
    c.inner.update({"lr": 3e-3, "warmup": 50, "final_lr_fraction": 0.1})
    c.clock.update({"step_time": 0.1, "bandwidth": 1e7, "latency": 0.05})
    if mu is not None:
        c.outer.momentum = mu
    c.eval_every = max(1, 50 // h)  # every 50 inner steps (every round for H >= 50)
    c.log_every = c.eval_every
    c.checkpoint_every = c.eval_every
    return c
