"""lib/moe/tasks.py: the neutral default config validates; named errors before any data or compile."""
import pytest

from lib.moe import tasks
from lib.moe.routers import MoEConfigError


def test_default_config_is_neutral_and_valid():
    c = tasks.default_config("my_project")
    assert c.project == "my_project"
    spec, par = tasks.validate(c)
    assert par is None and spec.router.name == "topk" and spec.router.k == 2
    assert spec.aux_weight == 0.0 and not spec.router.has_state  # no balancing unless a project asks
    assert spec.mode.name == "capacity"


def test_alias_k_and_config_k():
    c = tasks.default_config("p")
    c.moe.router, c.moe.k = "switch", 2  # the alias fixes k = 1 whatever moe.k says
    assert tasks.moe_spec(c).router.k == 1
    c.moe.router = "topk"
    assert tasks.moe_spec(c).router.k == 2


def test_stateful_router_only_where_the_trainer_updates_it(no_compiles):
    c = tasks.default_config("p")
    c.moe.router = "lossfree"
    assert tasks.validate(c)[0].router.has_state
    with pytest.raises(MoEConfigError, match="without state: the p trainer"):
        tasks.validate(c, router_state=False)
    assert no_compiles == []


def test_warmup_must_end_before_total(no_compiles):
    from lib.config import ConfigError

    c = tasks.default_config("p")
    c.total, c.warmup = 5, 5
    with pytest.raises(ConfigError, match="warmup=5 must be below config.total=5"):
        tasks.validate(c)
    c.warmup = 4
    tasks.validate(c)
    assert no_compiles == []
