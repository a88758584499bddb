"""Backdoor (targeted) attacks on federated learning and their metric, attack success rate.

An attacker is a Byzantine client of the engine (`engine.build(byzantine=...)`) whose local
update is `local_update(...)` below; honest clients run the plain local update. The attack
has four parts, all decided on the attacker's side with its own data only ("own" knowledge):

- pixel-pattern trigger (`Trigger`): a size x size block at (row, col) of every image
  channel set to `value` (BadNets-style; Gu et al. 2017, Bagdasaryan et al. 2020);
- data poisoning: in every batch the attacker draws, the first floor(poison_fraction * b)
  real samples (b real samples in the batch) get the trigger and the label `target`
  (the rest stay clean, so the model keeps its main-task accuracy);
- model replacement (Bagdasaryan et al., AISTATS 2020): the attacker sends boost * (X - G),
  its trained model X minus the global model G. With boost = n / eta (n clients per round,
  eta the server learning rate) and equal FedAvg weights, the next global model is
  X + eta / n * sum of the honest deltas: the attacker's model replaces the global one;
- disguise: the sent delta is scaled down to L2 norm <= disguise_norm when it is larger
  (the norm-constrained variant of "constrain-and-scale"), so its size matches what
  honest clients send (and passes a norm-clipping server unchanged);
- timing: attackers act only in rounds r with start_round <= r < end_round (end_round < 0:
  no end) and (r - start_round) % every == 0; in other rounds they behave honestly.

The metric (`make_asr_eval`, also `lib.fl.tasks.make_eval(..., backdoor=spec)`): over the
test samples whose true label is not the target, with the trigger stamped on, the fraction
classified as the target.

Bad input raises before any compile: TriggerError (trigger outside the image, size < 1),
TargetClassError, PoisonFractionError (outside [0, 1]), BackdoorConfigError (boost <= 0,
negative disguise norm, bad window).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lib.config import ConfigError
from lib.fl import client as client_lib
from lib.fl import tasks as tasks_lib  # (tasks imports this module only inside make_eval)


class BackdoorConfigError(ConfigError):
    """A backdoor attack parameter the attack cannot run with."""


class TriggerError(BackdoorConfigError):
    """The trigger does not fit in the image (or has size < 1)."""


class TargetClassError(BackdoorConfigError):
    """The backdoor target class is not a class of the task."""


class PoisonFractionError(BackdoorConfigError):
    """The poisoned fraction of an attacker's batch is outside [0, 1]."""


class Trigger(NamedTuple):
    row: int = 0  # top-left corner of the block
    col: int = 0
    size: int = 4
    value: float = 1.0


class Spec(NamedTuple):
    """A backdoor attack (static: changing it recompiles)."""

    trigger: Trigger
    target: int
    poison_fraction: float = 0.5
    boost: float = 1.0  # model replacement factor; n / eta replaces the global model
    disguise_norm: float = 0.0  # 0: no norm constraint on the sent delta
    start_round: int = 0
    end_round: int = -1  # exclusive; < 0: attack until the end
    every: int = 1


def image_hw(sample_shape) -> tuple[int, int]:
    """(H, W) of one sample: [H, W], [H, W, C], or a flat square [H * W]."""
    shp = tuple(int(s) for s in sample_shape)
    if len(shp) == 1:
        side = math.isqrt(shp[0])
        if side * side != shp[0]:
            raise TriggerError(f"a flat sample of {shp[0]} values is not a square image; cannot place a trigger")
        return side, side
    if len(shp) in (2, 3):
        return shp[0], shp[1]
    raise TriggerError(f"samples of shape {shp} are not images ([H, W], [H, W, C] or flat [H*W])")


def validate(spec: Spec, sample_shape, num_classes: int) -> None:
    """Named errors for every parameter, before any compile."""
    t = spec.trigger
    h, w = image_hw(sample_shape)
    if not (isinstance(t.size, (int, np.integer)) and t.size >= 1):
        raise TriggerError(f"backdoor trigger size={t.size!r} must be an int >= 1")
    if t.row < 0 or t.col < 0 or t.row + t.size > h or t.col + t.size > w:
        raise TriggerError(f"backdoor trigger {t.size}x{t.size} at (row={t.row}, col={t.col}) does not fit in "
                           f"the {h}x{w} image: need 0 <= row, row + size <= {h}, 0 <= col, col + size <= {w}")
    if not (isinstance(spec.target, (int, np.integer)) and 0 <= spec.target < num_classes):
        raise TargetClassError(f"backdoor target={spec.target!r} must be a class in [0, {num_classes})")
    if not 0.0 <= spec.poison_fraction <= 1.0:
        raise PoisonFractionError(f"backdoor poison_fraction={spec.poison_fraction} must be in [0, 1]")
    if not spec.boost > 0:
        raise BackdoorConfigError(f"backdoor boost={spec.boost} must be > 0 (1: no model replacement)")
    if not spec.disguise_norm >= 0:
        raise BackdoorConfigError(f"backdoor disguise_norm={spec.disguise_norm} must be >= 0 (0: none)")
    if spec.start_round < 0 or spec.every < 1:
        raise BackdoorConfigError(f"backdoor window start_round={spec.start_round} must be >= 0 and "
                                  f"every={spec.every} >= 1")
    if 0 <= spec.end_round <= spec.start_round:
        raise BackdoorConfigError(f"backdoor window end_round={spec.end_round} must be > start_round="
                                  f"{spec.start_round} (or < 0: no end)")


def replacement_boost(clients_per_round: int, server_lr: float) -> float:
    """n / eta: the boost under which FedAvg's next global model is the attacker's model."""
    return float(clients_per_round) / float(server_lr)


def stamp(x, trigger: Trigger):
    """x [B, ...sample] with the trigger block set to trigger.value in every channel."""
    x = jnp.asarray(x)
    sample = x.shape[1:]
    h, w = image_hw(sample)
    img = x.reshape((x.shape[0], h, w, -1))
    r, c, s = trigger.row, trigger.col, trigger.size
    img = img.at[:, r:r + s, c:c + s, :].set(jnp.asarray(trigger.value, x.dtype))
    return img.reshape(x.shape)


def active(spec: Spec, rnd):
    """Whether attackers act in round `rnd` (traced int)."""
    rnd = jnp.asarray(rnd, jnp.int32)
    on = (rnd >= spec.start_round) & ((rnd - spec.start_round) % spec.every == 0)
    if spec.end_round >= 0:
        on = on & (rnd < spec.end_round)
    return on


def num_poisoned(spec: Spec, num_real):
    """Poisoned samples in a batch with num_real real samples: floor(fraction * num_real)."""
    return jnp.floor(spec.poison_fraction * jnp.asarray(num_real, jnp.float32) + 1e-6).astype(jnp.int32)


def poison_batch(xb, yb, bmask, spec: Spec, on):
    """The first num_poisoned real samples of the batch (real samples come first) triggered and
    relabelled to the target when `on`; the batch unchanged otherwise."""
    k = num_poisoned(spec, jnp.sum(bmask))
    hit = on & bmask & (jnp.arange(yb.shape[0]) < k)
    xs = stamp(xb, spec.trigger)
    xb = jnp.where(hit.reshape((-1,) + (1,) * (xb.ndim - 1)), xs, xb)
    yb = jnp.where(hit, jnp.asarray(spec.target, yb.dtype), yb)
    return xb, yb


def malicious_delta(delta, spec: Spec, on):
    """boost * delta, then scaled down to norm disguise_norm if larger (when `on`)."""
    boosted = jax.tree.map(lambda d: d * jnp.asarray(spec.boost, d.dtype), delta)
    if spec.disguise_norm > 0:
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(d.astype(jnp.float32))) for d in jax.tree.leaves(boosted)))
        f = jnp.minimum(1.0, spec.disguise_norm / jnp.maximum(norm, 1e-30))
        boosted = jax.tree.map(lambda d: d * f.astype(d.dtype), boosted)
    return jax.tree.map(lambda b, d: jnp.where(on, b, d), boosted, delta)


def attacking(spec: Spec, client):
    """Whether this engine slot attacks now: a Byzantine client inside the attack window."""
    byz = client.get("byzantine", jnp.asarray(False))
    rnd = client.get("round", jnp.asarray(-1, jnp.int32))
    return jnp.asarray(byz, bool) & active(spec, rnd)


def local_update(loss_fn, local: client_lib.LocalConfig, spec: Spec, base: Callable | None = None):
    """The engine's local update with the backdoor on attacking slots (`attacking`): poisoned
    batches during training and the boosted / disguised delta. Honest slots, and attackers
    outside the window, train exactly as the plain local update.

    base(batch_transform) -> local_update: how the plain update is made (default
    client.make_local_update(loss_fn, local, batch_transform=...); projects pass
    `lambda t: engine.default_local_update(loss_fn, local, mesh, t)` for the platform's
    speed choices)."""

    def transform(xb, yb, bmask, client, hparams):
        del hparams
        return poison_batch(xb, yb, bmask, spec, attacking(spec, client))

    make = base or (lambda t: client_lib.make_local_update(loss_fn, local, batch_transform=t))
    inner = make(transform)

    def update(params, pool, client, cstate, key, hparams):
        delta, cs, m = inner(params, pool, client, cstate, key, hparams)
        return malicious_delta(delta, spec, attacking(spec, client)), cs, m

    return update


# ----------------------------------------------------------------------------- metric


def asr_arrays(x_test, y_test, spec: Spec):
    """(triggered inputs, their true labels) of the test samples whose label is not the target."""
    keep = np.asarray(y_test) != spec.target
    xt = np.asarray(x_test)[keep]
    return np.asarray(stamp(xt, spec.trigger)) if len(xt) else xt, np.asarray(y_test)[keep]


def make_asr_eval(apply_fn: Callable, x_test, y_test, spec: Spec, batch_size: int = 1000):
    """asr(params) -> attack success rate: over test samples with label != target, triggered,
    the fraction predicted as the target. apply_fn(params, x) -> logits."""
    xt, yt = asr_arrays(x_test, y_test, spec)
    n = len(yt)
    if n == 0:
        raise BackdoorConfigError(f"backdoor: every test sample has the target label {spec.target}; ASR undefined")
    xb, _, mb = tasks_lib.eval_batches(xt, yt, batch_size)

    @jax.jit
    def asr(params):
        def body(acc, b):
            hit = jnp.argmax(apply_fn(params, b[0]), -1) == spec.target
            return acc + jnp.sum(hit & b[1]), None

        hits, _ = jax.lax.scan(body, jnp.asarray(0, jnp.int32), (xb, mb))
        return hits.astype(jnp.float32) / n

    return asr
