"""Convolution gradients that XLA:CPU runs fast inside loops.

Why: XLA:CPU calls its fast (Eigen) convolution only for convolutions in canonical form
(input [batch, spatial..., feature], kernel [spatial..., in, out], output like the input,
no window reversal). Its `ConvCanonicalization` pass rewrites other convolutions into that
form, but only in the entry computation. The gradient of a convolution (what autodiff
emits: the weight gradient contracts over the batch dimension, the input gradient uses a
reversed kernel) is never canonical, so inside a `while_loop` / `scan` / `fori_loop` body
those convolutions fall back to a naive loop nest. Measured on a 2-core x86 CPU, jax
0.10.2, EMNIST CNN (conv3x3-32, conv3x3-64, batch 16): one SGD step costs ~17-80 ms as a
jitted function and ~12-30x that inside a loop (HLO after optimisation: the loop body
holds `convolution(...), dim_labels=f01b_i01o->01bf` and a `reverse` kernel, the entry
step holds only `b01f_01io->b01f`).

`canonical_conv_grads(fn)` returns a function equal to `fn` whose convolutions carry a
custom VJP that writes both gradients as canonical convolutions with explicit transposes
and an explicit kernel flip, so they are fast wherever they sit. Values are the same
convolutions in another order of summation (float rounding only). Convolutions it cannot
express that way (feature/batch groups, input dilation in the forward pass) are left to
XLA unchanged, and so are convolutions inside higher-order primitives other than jit
(custom derivatives, remat): the common CNNs of federated learning have neither.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend import core as jcore


def _perm_to_canonical(spec):
    """ConvDimensionNumbers spec (batch/out, feature/in, spatial...) -> permutation to
    [spec0, spatial..., spec1] for lhs/out, and for the kernel [spatial..., in, out]."""
    return spec[0], spec[1], tuple(spec[2:])


def _canonical_ok(params) -> bool:
    return (params["feature_group_count"] == 1 and params["batch_group_count"] == 1
            and all(d == 1 for d in params["lhs_dilation"]))


def _conv(x, w, strides, padding, rhs_dilation, lhs_dilation=None, precision=None, pet=None):
    """Canonical conv: x [B, S..., I], w [K..., I, O] -> [B, S'..., O]."""
    n = x.ndim - 2
    dn = lax.ConvDimensionNumbers(lhs_spec=(0, n + 1) + tuple(range(1, n + 1)),
                                  rhs_spec=(n + 1, n) + tuple(range(n)),
                                  out_spec=(0, n + 1) + tuple(range(1, n + 1)))
    return lax.conv_general_dilated(x, w, strides, padding, lhs_dilation=lhs_dilation,
                                    rhs_dilation=rhs_dilation, dimension_numbers=dn,
                                    precision=precision, preferred_element_type=pet)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _canonical_conv(x, w, strides, padding, rhs_dilation, precision):
    return _conv(x, w, strides, padding, rhs_dilation, precision=precision)


def _fwd(x, w, strides, padding, rhs_dilation, precision):
    return _conv(x, w, strides, padding, rhs_dilation, precision=precision), (x, w)


def _bwd(strides, padding, rhs_dilation, precision, res, dy):
    x, w = res
    n = x.ndim - 2
    ksize = w.shape[:n]
    dy = dy.astype(x.dtype)
    # Weight gradient: batch and input-feature axes swap roles. Input [I, S..., B], kernel
    # = dy as [S_out..., B, O] dilated by the forward stride, stride = forward dilation.
    xt = jnp.moveaxis(x, (0, n + 1), (n + 1, 0))
    dyt = jnp.moveaxis(dy, 0, n)
    dw = _conv(xt, dyt, rhs_dilation, padding, strides, precision=precision)  # [I, K'..., O]
    dw = dw[(slice(None),) + tuple(slice(0, k) for k in ksize)]  # extra rows from padding
    dw = jnp.moveaxis(dw, 0, n)  # [K..., I, O]
    # Input gradient: dy (dilated by the stride) against the flipped kernel with I/O swapped.
    wt = jnp.flip(jnp.swapaxes(w, n, n + 1), axis=tuple(range(n)))
    pads = []
    for d in range(n):
        keff = (ksize[d] - 1) * rhs_dilation[d] + 1
        lo, hi = padding[d]
        in_size = x.shape[1 + d]
        out_size = dy.shape[1 + d]
        # dx has in_size rows: the full transposed conv spans (out-1)*s + keff rows, starting at -lo.
        span = (out_size - 1) * strides[d] + keff
        pads.append((keff - 1 - lo, in_size + lo - span + keff - 1))
    dx = _conv(dy, wt, (1,) * n, pads, rhs_dilation, lhs_dilation=strides, precision=precision)
    return dx.astype(x.dtype), dw.astype(w.dtype)


_canonical_conv.defvjp(_fwd, _bwd)


def _conv_eqn(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
              feature_group_count, batch_group_count, precision, preferred_element_type, **_):
    dn = dimension_numbers
    lb, lf, ls = _perm_to_canonical(dn.lhs_spec)
    ro, ri, rs = _perm_to_canonical(dn.rhs_spec)
    ob, of, os_ = _perm_to_canonical(dn.out_spec)
    x = jnp.transpose(lhs, (lb,) + ls + (lf,))
    w = jnp.transpose(rhs, rs + (ri, ro))
    y = _canonical_conv(x, w, tuple(window_strides), tuple(tuple(p) for p in padding),
                        tuple(rhs_dilation), precision)
    if preferred_element_type is not None:
        y = y.astype(preferred_element_type)
    # y is [B, S..., O]; put each axis where out_spec wants it.
    out_axes = (ob,) + os_ + (of,)
    return jnp.transpose(y, tuple(sorted(range(y.ndim), key=lambda i: out_axes[i])))


def _eval(jaxpr, consts, args):
    env = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for v, a in zip(jaxpr.constvars, consts):
        env[v] = a
    for v, a in zip(jaxpr.invars, args):
        env[v] = a
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "conv_general_dilated" and _canonical_ok(eqn.params):
            outs = [_conv_eqn(*invals, **eqn.params)]
        elif name in ("pjit", "jit", "closed_call"):
            sub = eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr")
            outs = _eval(sub.jaxpr, sub.consts, invals)
        else:
            bind_params = eqn.primitive.get_bind_params(eqn.params)
            with eqn.ctx.manager:
                ans = eqn.primitive.bind(*invals, **bind_params)
            outs = ans if eqn.primitive.multiple_results else [ans]
        for v, a in zip(eqn.outvars, outs):
            env[v] = a
    return [read(v) for v in jaxpr.outvars]


def canonical_conv_grads(fn):
    """fn with every convolution's gradient written as canonical convolutions (see module doc)."""

    def wrapped(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        outs = _eval(closed.jaxpr, closed.consts, jax.tree.leaves(args))
        return jax.tree.unflatten(jax.tree.structure(out_shape), outs)

    return wrapped
