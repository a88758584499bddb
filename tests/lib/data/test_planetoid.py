import pickle
import shutil

import numpy as np
import pytest

from lib.data import planetoid

pytestmark = pytest.mark.data


@pytest.mark.parametrize("name,n,e,f,c", [("cora", 2708, 10556, 1433, 7), ("citeseer", 3327, 9104, 3703, 6)])
def test_load_public_split(data_dir, name, n, e, f, c):
    g = planetoid.load(name, data_dir / "planetoid")
    assert int(g.node_mask.sum()) == n and int(g.edge_mask.sum()) == e and g.x.shape[1] == f
    assert planetoid.num_classes(g) == c
    assert int(g.train_mask.sum()) == 20 * c and int(g.val_mask.sum()) == 500 and int(g.test_mask.sum()) == 1000
    assert np.bincount(g.y[g.train_mask], minlength=c).tolist() == [20] * c
    assert not (g.train_mask & g.val_mask).any() and not (g.val_mask & g.test_mask).any()
    s, r = g.senders[g.edge_mask], g.receivers[g.edge_mask]
    assert set(zip(s.tolist(), r.tolist())) == set(zip(r.tolist(), s.tolist()))  # undirected
    rows = g.x[g.node_mask].sum(1)
    assert np.allclose(rows[rows > 0], 1.0, atol=1e-5)


def test_citeseer_isolated_test_nodes_are_zero_rows(data_dir):
    x, y, s, r, train, val, test = planetoid.load_raw("citeseer", data_dir / "planetoid")
    idx = np.loadtxt(data_dir / "planetoid" / "ind.citeseer.test.index", dtype=int)
    missing = np.setdiff1d(np.arange(idx.min(), idx.max() + 1), idx)
    assert missing.size == 15
    assert np.all(x[missing] == 0) and not test[missing].any()
    # the i-th tx row is the features of node test.index[i]
    with open(data_dir / "planetoid" / "ind.citeseer.tx", "rb") as fh:
        tx = pickle.load(fh, encoding="latin1").toarray()
    np.testing.assert_array_equal(x[idx], tx)


def test_named_errors(tmp_path, data_dir):
    with pytest.raises(planetoid.PlanetoidError, match=r"ind\.cora\.x"):
        planetoid.load("cora", tmp_path)
    with pytest.raises(planetoid.PlanetoidError, match="not one of"):
        planetoid.load("reddit", tmp_path)
    for p in (data_dir / "planetoid").glob("ind.cora.*"):
        shutil.copy(p, tmp_path / p.name)
    with open(tmp_path / "ind.cora.graph", "rb") as fh:
        graph = pickle.load(fh, encoding="latin1")
    graph[0] = list(graph[0]) + [999999]
    with open(tmp_path / "ind.cora.graph", "wb") as fh:
        pickle.dump(graph, fh)
    with pytest.raises(planetoid.PlanetoidError, match="edge index out of range.*999999"):
        planetoid.load("cora", tmp_path)
    with open(tmp_path / "ind.cora.y", "rb") as fh:
        y = pickle.load(fh, encoding="latin1")
    with open(tmp_path / "ind.cora.y", "wb") as fh:
        pickle.dump(y[:-1], fh)
    with pytest.raises(planetoid.PlanetoidError, match="feature/label count mismatch"):
        planetoid.load("cora", tmp_path)
    (tmp_path / "ind.cora.tx").write_bytes(b"not a pickle")
    with pytest.raises(planetoid.PlanetoidError, match="malformed.*ind.cora.tx"):
        planetoid.load("cora", tmp_path)
