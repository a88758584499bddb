"""Bag-level, instance-level and interpolating losses on aggregate responses.

Samples are grouped into bags of k; only each bag's mean response ybar_B is observed. With
predictions f_i and bag means fbar_B:

    bag loss        L_bag  = sum_B (ybar_B - fbar_B)^2
    instance loss   L_inst = sum_B sum_{i in B} (ybar_B - f_i)^2
                           = sum_B [ k (ybar_B - fbar_B)^2 + sum_{i in B} (f_i - fbar_B)^2 ]

so the instance loss is k times the bag loss plus a within-bag variance regulariser. The
interpolating loss weights that regulariser by rho in [0, 1]:

    L_rho = sum_B [ (ybar_B - fbar_B)^2 + (rho / k) sum_{i in B} (f_i - fbar_B)^2 ]

rho = 0 is the bag loss, rho = 1 is the instance loss divided by k. All return means over bags.
"""

from __future__ import annotations

import jax.numpy as jnp


def _bags(f, k):
    return f.reshape(-1, k)


def bag_loss(f, ybar, k: int):
    return jnp.mean((ybar - _bags(f, k).mean(1)) ** 2)


def instance_loss(f, ybar, k: int):
    return jnp.mean(jnp.sum((ybar[:, None] - _bags(f, k)) ** 2, axis=1))


def within_bag_variance(f, k: int):
    fb = _bags(f, k)
    return jnp.mean(jnp.sum((fb - fb.mean(1, keepdims=True)) ** 2, axis=1))


def interpolated_loss(f, ybar, k: int, rho):
    return bag_loss(f, ybar, k) + rho / k * within_bag_variance(f, k)
