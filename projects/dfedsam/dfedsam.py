"""DFedSAM and DFedSAM-MGS: what Shi et al. (ICML 2023) introduce, and the baselines they compare with.

Client (node) i, round t, K local steps then gossip over a symmetric doubly stochastic W:

    DFedSAM:      y <- y - lr * grad F_i(y + rho g / ||g||),  g = grad F_i(y)   (K times, same minibatch
                  for both gradients: SAM, lib/optim/sam.py),  then  z_i <- sum_l W_il y_l   (Q = 1)
    DFedSAM-MGS:  the same local steps, then Q gossip steps (effective W^Q): multiple gossip steps
    DFedAvg:      K plain SGD steps, then one gossip step
    DFedAvgM:     K local heavy-ball momentum SGD steps (node-local buffer, not gossiped), one gossip step
    D-PSGD:       one SGD step, then one gossip step (K is 1 whatever local.num_steps says)
    FedAvg:       the centralized reference: every client K SGD steps, the server averages (lib.fl)

SAM enters through the decentralized engine's `Method.grad_fn`; the step rule, gossip and the
rest are lib.dl's. The node optimizer of DFedSAM is plain SGD (the paper's local update).
"""

from __future__ import annotations

from lib.config import ConfigError
from lib.dl import engine
from lib.optim import sam

METHODS = ("dfedsam", "dfedsam_mgs", "dfedavg", "dfedavgm", "dpsgd", "fedavg")
DECENTRALIZED = METHODS[:-1]


def method(name: str, *, rho: float, momentum: float) -> engine.Method:
    """The node optimizer of a decentralized method (named errors for a bad name or rho < 0)."""
    if name not in DECENTRALIZED:
        raise ConfigError(f"config.method={name!r} is not a decentralized method; choose one of {list(DECENTRALIZED)}")
    if name in ("dfedsam", "dfedsam_mgs"):
        return engine.Method(name, engine.dsgd().optimizer, grad_fn=sam.grad_fn(rho))
    if name == "dfedavgm":
        return engine.dsgd(momentum)._replace(name=name)
    return engine.dsgd()._replace(name=name)


def local_steps(name: str, k: int) -> int:
    """K local steps per round; D-PSGD takes one."""
    return 1 if name == "dpsgd" else int(k)


def gossip_steps(name: str, q: int, mgs_q: int) -> int:
    """Gossip steps per round: DFedSAM-MGS's Q, every other method the configured gossip.steps (1)."""
    return int(mgs_q) if name == "dfedsam_mgs" else int(q)
