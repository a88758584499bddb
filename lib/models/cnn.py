"""Small convolutional classifiers used by the federated projects (flax linen).

- `LeafCNN`: the FEMNIST CNN of the LEAF benchmark (Caldas et al. 2018; also FedAvg's
  "CNN" and FedJAX's EMNIST model family): conv5x5-32 -> maxpool2 -> conv5x5-64 ->
  maxpool2 -> dense 2048 -> dense classes, ReLU, SAME padding. Input [B, 28, 28(, 1)].
- `SmallCNN`: a cheaper two-conv net for MNIST on CPU (conv3x3-c1 -> pool -> conv3x3-c2 ->
  pool -> dense hidden -> classes).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


def _nhwc(x):
    return x[..., None] if x.ndim == 3 else x


class ConvNet(nn.Module):
    """[conv k x k -> ReLU -> 2x2 max-pool] per entry of `features`, then one hidden dense layer."""

    num_classes: int = 10
    features: tuple = (16, 32)
    hidden: int = 64
    kernel: tuple = (3, 3)
    dtype: jnp.dtype = jnp.float32  # compute dtype; logits come out in float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        kw = {"dtype": self.dtype, "param_dtype": self.param_dtype}
        x = _nhwc(x.astype(self.dtype))
        for f in self.features:
            x = nn.relu(nn.Conv(f, self.kernel, padding="SAME", **kw)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(self.hidden, **kw)(x))
        return nn.Dense(self.num_classes, **kw)(x).astype(jnp.float32)


class LeafCNN(ConvNet):
    """The LEAF / FedJAX EMNIST CNN: 5x5 convs 32 and 64, dense 2048, 62 classes."""

    num_classes: int = 62
    features: tuple = (32, 64)
    hidden: int = 2048
    kernel: tuple = (5, 5)


class SmallCNN(ConvNet):
    """A small MNIST CNN: 3x3 convs 16 and 32, dense 64."""
