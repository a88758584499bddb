"""PowerWalk reproduction configs: `get_config("cora")`, `"citeseer"` (all sources, exact by a dense
solve) and `"random"` (a generated 20,000-node / 200,000-edge graph, 500 sampled sources).

    nice python -m projects.ppr.reproduce   # all three, appends to projects/ppr/results/accuracy.json
    python -m projects.ppr.report           # README table
About 1-3 minutes each on the shared 2-core CPU.
"""
from configs.ppr import default


def get_config(arg=None):
    c = default.get_config()
    name = arg or "cora"
    c.dataset = name
    c.walks_per_node = (16, 64, 256)
    c.hops = (0, 1, 2, 4, 8, 16)
    c.max_steps = 100
    if name == "random":
        c.num_sources = 500
        c.walks_per_node = (16, 64)
    return c
