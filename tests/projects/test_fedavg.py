"""FedAvg over host-resident populations: cohort gathering, equality with the in-memory
engine, device inputs independent of N, bit-exact resume, named errors for bad populations."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lib.data.common import DataError, MissingDataError
from lib.fl import client as client_lib
from lib.fl import engine, participation, population, server
from lib.models.mlp import MLP
from tests.helpers import assert_trees_equal, load_checkpoint, metric_rows


@pytest.fixture(scope="module")
def pop_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pop")
    population.synthetic_population(str(root / "p"), 300, seed=1, min_samples=1, max_samples=6, dim=12,
                                    chunk=64)
    return str(root / "p")


def _config(pop_dir, **kw):
    from configs.fedavg import default

    c = default.get_config()
    c.population.kind, c.population.path, c.population.eval_clients = "folder", pop_dir, 40
    c.cohort, c.total, c.log_every, c.eval_every, c.checkpoint_every = 10, 6, 1, 3, 3
    for k, v in kw.items():
        c[k] = v
    return c


def test_synthetic_population_is_deterministic_and_chunk_independent(tmp_path):
    a = population.synthetic_population(str(tmp_path / "a"), 50, seed=3, dim=5, chunk=7)
    b = population.synthetic_population(str(tmp_path / "b"), 50, seed=3, dim=5, chunk=7)
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.sizes.min() >= 2 and a.sizes.max() <= 8 and a.num_clients == 50
    assert not os.path.exists(str(tmp_path / "a") + f".partial-{os.getpid()}")


def test_cohorts_are_distinct_sorted_and_reproducible():
    ids = population.cohort_ids(0, 5, 1_000_000, 1000)
    assert len(np.unique(ids)) == 1000 and np.all(np.diff(ids) > 0) and ids.max() < 1_000_000
    np.testing.assert_array_equal(ids, population.cohort_ids(0, 5, 1_000_000, 1000))
    assert not np.array_equal(ids, population.cohort_ids(0, 6, 1_000_000, 1000))


def test_gather_holds_exactly_each_clients_samples(pop_dir):
    pop = population.load(pop_dir)
    ids = np.array([3, 7, 299, 3])
    d = population.gather(pop, ids, batch_size=4, n_pad=8)
    assert d.index.shape == (4, 8) and d.x.shape == (32, 12)
    for slot, k in enumerate(ids):
        lo, hi = pop.offsets[k], pop.offsets[k + 1]
        n = hi - lo
        assert d.num_samples[slot] == n
        np.testing.assert_array_equal(d.x[d.index[slot, :n]], np.asarray(pop.x[lo:hi]))
        np.testing.assert_array_equal(d.y[d.index[slot, :n]], np.asarray(pop.y[lo:hi]))


def test_cohort_round_equals_in_memory_round_with_same_participants(pop_dir):
    """A round over the gathered cohort is the engine's in-memory round, bit for bit."""
    pop = population.load(pop_dir)
    n, m, b = pop.num_clients, 8, 4
    model = MLP(hidden=(16,), num_classes=pop.num_classes)
    params = model.init(jax.random.PRNGKey(0), jnp.asarray(pop.x[:1]))["params"]

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y)

    ids = population.cohort_ids(0, 0, n, m)
    mask = np.zeros(n, bool)
    mask[ids] = True
    fixed = participation.Participation("fixed", n, np.full(n, m / n, np.float32), lambda k: (),
                                        lambda s, k, r: (jnp.asarray(mask), s), m)
    local = client_lib.LocalConfig(b, "epochs", num_epochs=2)
    mesh = engine.clients_mesh(4)
    sim = engine.build(loss_fn=loss_fn, local=local, participation=fixed, server_opt=server.make("sgd", 1.0),
                       capacity=m, mesh=mesh)
    n_pad = population.pad_size(pop, b)
    parts = [np.arange(pop.offsets[k], pop.offsets[k + 1]) for k in range(n)]
    full = client_lib.pack_clients(np.asarray(pop.x), np.asarray(pop.y), parts, b)
    assert full.index.shape[1] == n_pad
    s0 = engine.put_state(sim, engine.init(sim, params, seed=0))
    want, _ = jax.jit(engine.round_fn(sim))(s0, engine.put_data(sim, full), {"lr": 0.1})

    cohort = {"data": engine.put_data(sim, population.gather(pop, ids, b, n_pad)), "ids": jnp.asarray(ids, jnp.int32),
              "valid": jnp.ones(m, bool), "byzantine": jnp.zeros(m, bool), "clients": ()}
    st = {k: v for k, v in s0.items() if k not in ("clients", "participation")}
    got, _, metrics = jax.jit(engine.cohort_round_fn(sim))(st, cohort, {"lr": 0.1})
    assert int(metrics["participants"]) == m
    assert_trees_equal(got["params"], want["params"])


def test_device_inputs_do_not_grow_with_the_population(pop_dir, tmp_path):
    """The compiled cohort round for N = 300 and N = 30,000 has the same argument bytes."""
    sizes = []
    for n in (300, 30_000):
        pop = population.synthetic_population(str(tmp_path / f"p{n}"), n, seed=0, dim=12, chunk=10_000)
        model = MLP(hidden=(8,), num_classes=pop.num_classes)
        params = model.init(jax.random.PRNGKey(0), jnp.asarray(pop.x[:1]))["params"]
        loss_fn = lambda p, x, y, model=model: optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
            model.apply({"params": p}, x), y)
        sim = engine.build(loss_fn=loss_fn, local=client_lib.LocalConfig(4, "epochs"),
                           participation=participation.uniform(n, 8), server_opt=server.make("sgd", 1.0),
                           capacity=8, mesh=engine.clients_mesh(1),
                           client_state_init=lambda p: {"c": jnp.zeros(3)})
        st = engine.init(sim, params, 0, host_clients=True)
        assert st["clients"]["c"].shape == (n, 3) and isinstance(st["clients"]["c"], np.ndarray)
        ids = population.cohort_ids(0, 0, n, 8)
        cohort = {"data": population.gather(pop, ids, 4, 8), "ids": ids.astype(np.int32), "valid": np.ones(8, bool),
                  "byzantine": np.zeros(8, bool), "clients": population.gather_states(st["clients"], ids)}
        dev = {k: v for k, v in st.items() if k != "clients"}
        compiled = jax.jit(engine.cohort_round_fn(sim)).lower(dev, cohort, {"lr": 0.1}).compile()
        sizes.append(compiled.memory_analysis().argument_size_in_bytes)
    assert sizes[0] == sizes[1]


def test_run_smoke_and_resume_bit_exact(pop_dir, tmp_path):
    """Interrupted at round 3 and resumed == uninterrupted: params, server state and the host
    per-client statistics of all N clients."""
    from projects.fedavg import train

    a, b = tmp_path / "a", tmp_path / "b"
    full = train.train_and_evaluate(_config(pop_dir), str(a))
    assert full["step"] == 6 and np.isfinite(full["test_loss"]) and full["population"] == 300
    train.train_and_evaluate(_config(pop_dir, total=3), str(b))
    final = train.train_and_evaluate(_config(pop_dir), str(b))
    assert final["resumed_from"] == 3
    sa, sb = load_checkpoint(a, 6), load_checkpoint(b, 6)
    assert_trees_equal(sa, sb)
    selected = np.asarray(sa["clients"]["selected"])
    assert selected.shape == (300,) and selected.sum() == 6 * 10 and selected[260:].sum() == 0  # held out
    assert metric_rows(a)[3:] == metric_rows(b)[3:]


def _write_bad(tmp_path, name, **changes):
    good = population.synthetic_population(str(tmp_path / name), 20, seed=0, dim=3)
    path = str(tmp_path / name)
    if "meta" in changes:
        with open(os.path.join(path, "meta.json"), "w") as f:
            f.write(changes["meta"])
    if "offsets" in changes:
        np.save(os.path.join(path, "offsets.npy"), changes["offsets"])
    if "drop" in changes:
        os.remove(os.path.join(path, changes["drop"]))
    return path, good


def test_bad_populations_are_named_errors(tmp_path, no_compiles):
    with pytest.raises(MissingDataError, match="meta.json not found"):
        population.load(str(tmp_path / "nowhere"))
    path, _ = _write_bad(tmp_path, "a", meta="{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        population.load(path)
    path, good = _write_bad(tmp_path, "b", drop="y.npy")
    with pytest.raises(MissingDataError, match="y.npy not found"):
        population.load(path)
    off = good.offsets.copy()
    off[5] = off[4]  # client 4 empty
    path, _ = _write_bad(tmp_path, "c", offsets=off)
    with pytest.raises(DataError, match=r"empty clients \(first 5\): \[4\]"):
        population.load(path)
    meta = json.load(open(os.path.join(str(tmp_path / "c"), "meta.json")))
    meta["format"] = "something-else"
    path, _ = _write_bad(tmp_path, "d", meta=json.dumps(meta))
    with pytest.raises(DataError, match="format"):
        population.load(path)
    assert no_compiles == []


def test_cohort_larger_than_population_is_named_before_compile(pop_dir, tmp_path, no_compiles):
    from lib.config import ConfigError
    from projects.fedavg import train

    with pytest.raises(ConfigError, match="config.cohort=500"):
        train.train_and_evaluate(_config(pop_dir, cohort=500), str(tmp_path))
    assert no_compiles == []
