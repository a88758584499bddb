"""Federated adversarial learning: every client trains on PGD adversarial examples of its own
data (min over the model of the max over an L-inf ball of radius eps of the loss), the server
averages as FedAvg does.

The paper this project follows is a convergence analysis (the robust training loss of FedAvg
with local PGD training converges to a small value in the over-parameterised regime, non-IID
clients included); what it implies and what is measured here: the robust training loss
decreasing with rounds and width, across heterogeneity, and clean / robust test accuracy.

- `pgd`: Madry et al.'s projected gradient ascent: random start in the ball, `steps` signed
  gradient steps of size `alpha`, projection onto the ball and the input range; FGSM is one
  step of size eps from the clean point. The example is a constant for the model's gradient
  (stop_gradient), as in adversarial training.
- `adversarial_loss`: the per-sample loss at the PGD example, a drop-in loss for the engine, so
  the engine's reported training loss is the robust training loss.
- `make_robust_eval`: clean, FGSM and PGD accuracy of the global model on the test set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.config import ConfigError
from lib.fl import tasks


def check(eps: float, alpha: float, steps: int) -> None:
    if not eps >= 0:
        raise ConfigError(f"config.adv.eps={eps} must be >= 0 (L-inf radius in input units)")
    if not alpha > 0 or steps < 1:
        raise ConfigError(f"config.adv.alpha={alpha} must be > 0 and config.adv.steps={steps} >= 1")


def pgd(loss_fn, params, x, y, key, *, eps: float, alpha: float, steps: int, lo=0.0, hi=1.0, random_start=True):
    """PGD-`steps` examples (L-inf, radius eps) maximising sum(loss_fn(params, x, y)); inputs kept in [lo, hi]."""
    if eps == 0:
        return x
    grad = jax.grad(lambda xa: jnp.sum(loss_fn(params, xa, y)))
    x0 = x
    if random_start:
        x = x + jax.random.uniform(key, x.shape, x.dtype, -eps, eps)
    x = jnp.clip(x, lo, hi)

    def step(_, xa):
        xa = xa + alpha * jnp.sign(grad(xa))
        return jnp.clip(jnp.clip(xa, x0 - eps, x0 + eps), lo, hi)

    return jax.lax.stop_gradient(jax.lax.fori_loop(0, steps, step, x))


def fgsm(loss_fn, params, x, y, *, eps: float, lo=0.0, hi=1.0):
    return pgd(loss_fn, params, x, y, None, eps=eps, alpha=eps, steps=1, lo=lo, hi=hi, random_start=False)


def adversarial_loss(loss_fn, *, eps: float, alpha: float, steps: int, lo=0.0, hi=1.0, seed: int = 0):
    """Per-sample loss at PGD examples of the batch. The random start is keyed by the batch
    contents (a hash of the inputs' bits), so the loss stays a pure function of (params, x, y)."""

    def loss(params, x, y):
        bits = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
        key = jax.random.fold_in(jax.random.PRNGKey(seed), jnp.sum(bits, dtype=jnp.uint32))
        xa = pgd(loss_fn, params, x, y, key, eps=eps, alpha=alpha, steps=steps, lo=lo, hi=hi)
        return loss_fn(params, xa, y)

    return loss


def make_robust_eval(model, x_test, y_test, loss_fn, *, eps, alpha, steps, lo=0.0, hi=1.0, batch_size=1000, seed=0):
    """evaluate(params) -> {'test_accuracy', 'test_loss', 'fgsm_accuracy', 'pgd_accuracy'} on the test set."""
    n = len(y_test)
    xb, yb, mb = tasks.eval_batches(x_test, y_test, batch_size)
    nb = xb.shape[0]

    @jax.jit
    def sums(params):
        def correct(x, y, m):
            return jnp.sum((jnp.argmax(model.apply({"params": params}, x), -1) == y) * m)

        def body(acc, b):
            x, y, m, i = b
            clean_loss = jnp.sum(loss_fn(params, x, y) * m)
            xf = fgsm(loss_fn, params, x, y, eps=eps, lo=lo, hi=hi)
            xp = pgd(loss_fn, params, x, y, jax.random.fold_in(jax.random.PRNGKey(seed), i), eps=eps, alpha=alpha,
                     steps=steps, lo=lo, hi=hi)
            return (acc[0] + clean_loss, acc[1] + correct(x, y, m), acc[2] + correct(xf, y, m),
                    acc[3] + correct(xp, y, m)), None

        zero = jnp.float32(0)
        out, _ = jax.lax.scan(body, (zero, zero, zero, zero), (xb, yb, mb, jnp.arange(nb)))
        return out

    def evaluate(params):
        loss, clean, f, p = (float(v) for v in jax.device_get(sums(params)))
        return {"test_loss": loss / n, "test_accuracy": clean / n, "fgsm_accuracy": f / n, "pgd_accuracy": p / n}

    return evaluate
