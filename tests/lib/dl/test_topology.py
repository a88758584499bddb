"""Topologies, mixing matrices, spectral gap and the named errors of lib.dl.topology."""
import numpy as np
import pytest

from lib.config import ConfigError
from lib.dl import topology as T
from lib.errors import TesseraError


@pytest.mark.parametrize("name,n", [(k, 32 if k == "social" else 16) for k in T.NAMES])
def test_every_topology_connected_and_doubly_stochastic(name, n):
    topo = T.make(name, n, seed=3)
    assert topo.adj.shape[1:] == (n, n) and not topo.adj[:, np.arange(n), np.arange(n)].any()
    assert T.is_connected(topo)
    mix = "metropolis_hastings" if topo.symmetric else "uniform_neighbour"
    w = T.mixing(topo, mix)
    T.validate(topo, w)
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-12)
    np.testing.assert_allclose(w.sum(2), 1, atol=1e-12)
    gap = T.spectral_gap(w)
    assert 0 < gap <= 1 + 1e-12


def test_known_structure_and_gaps():
    n = 16
    w = T.mixing(T.ring(n), "metropolis_hastings")[0]
    assert np.allclose(w[0, [15, 0, 1]], 1 / 3) and np.count_nonzero(w[0]) == 3  # paper's ring: 1/3 each
    lam2 = 1 / 3 + 2 / 3 * np.cos(2 * np.pi / n)  # circulant eigenvalues
    assert T.spectral_gap(w) == pytest.approx(1 - lam2, abs=1e-12)
    assert T.spectral_gap(T.mixing(T.complete(n), "uniform_neighbour")) == pytest.approx(1.0)
    assert T.torus(16).adj.sum(-1).tolist() == [[4] * 16]
    assert T.exponential(16).adj[0, 0].nonzero()[0].tolist() == [8, 12, 14, 15]  # receives from -1, -2, -4, -8
    # one-peer exponential: each phase one neighbour; product over log2(n) phases = exact average
    opx = T.one_peer_exponential(16)
    assert opx.num_phases == 4 and (opx.adj.sum(-1) == 1).all()
    assert T.spectral_gap(T.mixing(opx, "uniform_neighbour")) == pytest.approx(1.0, abs=1e-12)
    soc = T.social()
    assert soc.num_nodes == 32 and soc.adj.sum() == 2 * 89  # 89 attendances (edges) in Davis' data
    deg = soc.adj[0].sum(1)
    assert (np.diff(deg) <= 0).all()  # descending degree order


def test_uniform_neighbour_is_not_doubly_stochastic_on_irregular_graphs():
    topo = T.social()
    w = T.mixing(topo, "uniform_neighbour")
    np.testing.assert_allclose(w.sum(2), 1)
    with pytest.raises(T.NotDoublyStochasticError, match="column"):
        T.validate(topo, w)


def test_named_errors():
    two_rings = np.zeros((1, 8, 8), bool)
    for i in range(4):
        for base in (0, 4):
            a, b = base + i, base + (i + 1) % 4
            two_rings[0, a, b] = two_rings[0, b, a] = True
    topo = T.Topology("two_rings", two_rings)
    w = T.mixing(topo, "metropolis_hastings")
    with pytest.raises(T.DisconnectedTopologyError, match="disconnected") as e:
        T.validate(topo, w)
    assert isinstance(e.value, TesseraError) and isinstance(e.value, ConfigError)
    T.validate(topo, w, need_connected=False)
    bad = T.mixing(T.ring(8), "metropolis_hastings").copy()
    bad[0, 0, 1] += 0.1
    bad[0, 0, 0] -= 0.1  # rows still sum to 1, column 1 does not
    with pytest.raises(T.NotDoublyStochasticError, match="column 0 sums to 0.9"):
        T.validate(T.ring(8), bad)
    with pytest.raises(T.TopologyError, match="not an edge"):
        T.validate(T.ring(8), np.full((1, 8, 8), 1 / 8))
    with pytest.raises(T.TopologyError, match="directed"):
        T.metropolis_hastings(T.exponential(8))
    with pytest.raises(T.TopologyError, match="topology='hypercube'"):
        T.make("hypercube", 8)
    with pytest.raises(T.TopologyError, match="power of 2"):
        T.make("one_peer_exponential", 12)
    with pytest.raises(T.TopologyError, match="32 nodes"):
        T.make("social", 16)
    with pytest.raises(T.DisconnectedTopologyError):
        T.erdos_renyi(30, 0.001)
