"""FedAvg-M and SCAFFOLD-M (Cheng, Huang, Wu, Yuan, *Momentum Benefits Non-IID Federated Learning
Simply and Provably*, ICLR 2024), with FedAvg and SCAFFOLD (Karimireddy et al., ICML 2020) as
the same code with beta = 1 / without control variates.

Every local step of client i in round r moves along

    fedavg      d = grad F_i(x)
    fedavg_m    d = beta grad F_i(x) + (1 - beta) g_r
    scaffold    d = grad F_i(x) - c_i + c
    scaffold_m  d = beta (grad F_i(x) - c_i + c) + (1 - beta) g_r

with g_r the server momentum and c, c_i the server and client control variates, all sent
with the model (`Strategy.broadcast`). After K local steps of size eta the server sets
g_{r+1} = (1 / (eta K |S|)) sum_{i in S} (x_r - x_i) (the mean local direction), applies its
optimizer to the mean delta (lr 1 = plain FedAvg step), and SCAFFOLD refreshes
c_i <- mean_k grad F_i(x_i^k) and c <- c + (1/N) sum_{i in S} (c_i' - c_i).

The local update and the server state are lib.fl.scaffold's (SCAFFOLD with an optional
server-momentum term beta); this module maps the four method names onto it.
"""

from __future__ import annotations

from lib.config import ConfigError
from lib.fl import engine, scaffold

METHODS = ("fedavg", "fedavg_m", "scaffold", "scaffold_m")


def uses_momentum(method: str) -> bool:
    return method.endswith("_m")


def uses_control(method: str) -> bool:
    return method.startswith("scaffold")


def check(method: str, beta: float) -> None:
    if method not in METHODS:
        raise ConfigError(f"config.method={method!r} is unknown; choose one of {METHODS}")
    if not 0.0 < beta <= 1.0:
        raise ConfigError(f"config.beta={beta} must be in (0, 1] (the weight of the fresh gradient; 1: no momentum)")


def local_update(method: str, beta: float, loss_fn, local_cfg, mesh):
    """The engine's local update with the method's direction. Deltas are {'model': x_i - x}
    plus, for SCAFFOLD, {'control': c_i' - c_i}; client state {'c': c_i} (SCAFFOLD) or ()."""
    return scaffold.local_update(loss_fn, local_cfg, mesh, beta=beta if uses_momentum(method) else 1.0,
                                 control=uses_control(method))


def client_state_init(method: str):
    return scaffold.client_state_init if uses_control(method) else None


def strategy(method: str, num_clients: int, local_steps: int) -> engine.Strategy:
    """Uniform mean over the round's participants; server momentum g (starts at 0) and control
    variate c. `local_steps` is K (every client runs K steps: local.mode='steps')."""
    return scaffold.strategy(num_clients, local_steps, control=uses_control(method), name=method)
