"""Config loading, overrides and validation of the experiments runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grasp_agent.experiments.config import (
    CONFIG_DIR,
    ConfigError,
    apply_override,
    dump_yaml,
    from_dict,
    load_config,
    load_raw,
    parse_override,
)
from grasp_agent.experiments.runner import check_planner_specs
from grasp_agent.experiments.schema import QuickstartConfig


@dataclass
class Inner:
    x: int = 1
    y: float = 0.5


@dataclass
class Outer:
    name: str = "n"
    inner: Inner = field(default_factory=Inner)
    sizes: list[int] = field(default_factory=list)
    maybe: int | None = None


def test_unknown_key_names_key_and_valid_keys():
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"inner": {"x": 2, "z": 3}})
    msg = str(err.value)
    assert "config.inner" in msg and "'z'" in msg and "x, y" in msg


def test_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match=r"config.inner.x: expected an int, got 'three'"):
        from_dict(Outer, {"inner": {"x": "three"}})
    with pytest.raises(ConfigError, match=r"config.sizes\[1\]: expected an int"):
        from_dict(Outer, {"sizes": [1, 2.5]})
    with pytest.raises(ConfigError, match="expected an int"):
        from_dict(Outer, {"inner": {"x": True}})  # bool is not an int here


def test_int_accepted_for_float_and_optional():
    out = from_dict(Outer, {"inner": {"y": 3}, "maybe": None})
    assert out.inner.y == 3.0 and isinstance(out.inner.y, float) and out.maybe is None
    assert from_dict(Outer, {"maybe": 4}).maybe == 4


def test_parse_override_values_are_yaml():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=[25, 50]") == (["a"], [25, 50])
    assert parse_override("a.b=null") == (["a", "b"], None)
    assert parse_override("a=x=y") == (["a"], "x=y")
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("novalue")


def test_apply_override_nested_and_list_index():
    raw = {"a": {"b": 1}, "l": [{"k": 1}, {"k": 2}]}
    apply_override(raw, ["a", "b"], 3)
    apply_override(raw, ["l", "1", "k"], 7)
    apply_override(raw, ["new", "deep"], 1)
    assert raw == {"a": {"b": 3}, "l": [{"k": 1}, {"k": 7}], "new": {"deep": 1}}
    with pytest.raises(ConfigError, match="not a valid index"):
        apply_override(raw, ["l", "5", "k"], 0)


def test_every_bundled_config_validates():
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert {"quickstart", "quickstart_smoke"} <= set(names)
    for name in names:
        cfg = load_config(name)
        check_planner_specs(cfg)  # planner params match the planner config dataclasses
        assert load_config(name) == cfg


def test_overrides_apply_and_unknown_override_key_fails():
    cfg = load_config("quickstart", ["tasks.count=2", "planners.cem.params.iterations=3"])
    assert isinstance(cfg, QuickstartConfig)
    assert cfg.tasks.count == 2 and cfg.planners["cem"].params["iterations"] == 3
    with pytest.raises(ConfigError, match="unknown key 'cuont'.*count"):
        load_config("quickstart", ["tasks.cuont=2"])
    with pytest.raises(ConfigError, match="tasks.count: expected an int"):
        load_config("quickstart", ["tasks.count=many"])
    with pytest.raises(ConfigError, match="eval.timing_tasks must be >= 0"):
        load_config("quickstart", ["eval.timing_tasks=-1"])


def test_planner_params_checked_against_planner_config():
    cfg = load_config("quickstart", ["planners.grasp.params.lr_x=0.1"])
    with pytest.raises(ConfigError, match="planners.grasp.params: unknown key 'lr_x'.*lr_a"):
        check_planner_specs(cfg)
    with pytest.raises(ConfigError, match="planner type 'nope' unknown"):
        load_config("quickstart", ["planners.grasp.type=nope"])


def test_graph_planners_only_where_a_state_graph_is_given():
    """init: graph and cost_to_go need the graph of the model's data: sweeps' and third-party
    planners get it; quickstart's planners and Dyna collection planners do not."""
    check_planner_specs(load_config("horizon_sweep_smoke", ["planners.cem.cost_to_go=1.0"]))
    for family, override, where in [
            ("quickstart", "planners.cem.cost_to_go=1.0", "config.planners.cem"),
            ("quickstart", "planners.grasp.params.init=graph", "config.planners.grasp"),
            ("horizon_sweep_smoke", "envs.walldoor.data={dyna_planner: {type: cem, cost_to_go: 1.0}}",
             "config.envs.walldoor.data.dyna_planner")]:
        with pytest.raises(ConfigError, match=f"{where}: init: graph and cost_to_go plan with the state"):
            check_planner_specs(load_config(family, [override]))


def test_sweep_per_env_planner_params_checked_before_any_work():
    typo = load_config("horizon_sweep_smoke", ["envs.walldoor.planner_params={cme: {num_elites: 4}}"])
    with pytest.raises(ConfigError, match="envs.walldoor.planner_params.cme: no planner 'cme'.*'cem'"):
        check_planner_specs(typo)
    bad_key = load_config("horizon_sweep_smoke", ["envs.walldoor.planner_params={grasp: {gama: 0.1}}"])
    with pytest.raises(ConfigError, match="envs.walldoor.planner_params.grasp: unknown key 'gama'.*gamma"):
        check_planner_specs(bad_key)
    good = load_config("horizon_sweep_smoke", ["envs.walldoor.planner_params={grasp: {gamma: 0.1}}"])
    check_planner_specs(good)


def test_resolved_config_round_trips(tmp_path: Path):
    cfg = load_config("quickstart", ["seed=3"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(cfg))
    assert load_config(path) == cfg


def test_missing_config_and_bad_experiment(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found.*quickstart"):
        load_raw("no_such_config")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: dance\n")
    with pytest.raises(ConfigError, match="'experiment' must be one of"):
        load_config(bad)
