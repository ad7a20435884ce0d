"""The scenario schema, the bundled scenarios, overrides, hashing and the CLI's good paths."""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenarios.cli import main
from scenarios.runner import build_market
from scenarios.schema import (
    ExchangeSpec,
    Scenario,
    ScenarioError,
    bundled_scenarios,
    load_scenario,
)
from sim.exchange import ExchangeConfig
from sim.exchange.codes import TRIGGER_LAST, TRIGGER_MARK
from sim.exchange.perp import BTCUSDT_TIERS, MarginTier

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = {"calm", "crowded_longs", "whale_hunt", "short_squeeze", "last_price_trigger",
           "bench_day", "sweep_example", "stress", "whale_grid", "regimes"}


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_nine_bundled_scenarios_are_shipped():
    assert set(bundled_scenarios()) == BUNDLED


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_scenario_validates_and_names_itself(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.description.strip()
    result = CliRunner().invoke(main, ["validate", name])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"ok: {name} sha256 [0-9a-f]{{64}}\n", result.stdout)
    assert scenario.sha256() in result.stdout


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_scenario_starts_with_a_comment_header_naming_it(name):
    text = (ROOT / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
    header = text.split("\nname:")[0]
    assert header.startswith(f"# {name}:")
    assert len(header.splitlines()) >= 3


def test_bundled_scenarios_have_the_populations_the_issue_asks_for():
    calm = load_scenario("calm")
    assert calm.agents.whale.count == 0 and calm.duration_s == 24 * 3600  # 3 fundings

    crowded = load_scenario("crowded_longs")
    assert crowded.duration_s > crowded.exchange.funding_interval_s  # funding settles once
    assert crowded.agents.retail.long_bias >= 0.7
    assert crowded.agents.whale.count == 0

    hunt = load_scenario("whale_hunt")
    assert hunt.agents.whale.count == 1 and hunt.duration_s == 12 * 3600
    assert hunt.agents.retail.long_bias > 0.5  # a long cluster to hunt

    squeeze = load_scenario("short_squeeze")
    assert squeeze.agents.whale.count == 1 and squeeze.agents.retail.long_bias < 0.5

    regimes = load_scenario("regimes")
    # 30 days of 8 h intervals: 30 x 3 = 90 settlements
    assert regimes.duration_s / regimes.exchange.funding_interval_s == 90
    leans = [e.long_bias for e in regimes.events if e.kind == "regime" and e.long_bias]
    assert max(leans) > 0.5 > min(leans)  # a crowded long phase and a crowded short one
    assert [e.kind for e in regimes.events].count("index_jump") == 1

    bench = load_scenario("bench_day")
    assert bench.duration_s == 24 * 3600
    assert bench.agents.retail.count == 10_000
    assert bench.agents.market_maker.count == 4
    assert bench.agents.arbitrageur.count == 2
    assert bench.agents.whale.count == 1


def test_last_price_trigger_is_whale_hunt_with_liquidations_on_last_price():
    hunt = load_scenario("whale_hunt").resolved()
    last = load_scenario("last_price_trigger").resolved()
    assert hunt["exchange"]["liquidation_trigger"] == "mark"
    assert last["exchange"]["liquidation_trigger"] == "last"
    for resolved in (hunt, last):
        for key in ("name", "description"):
            del resolved[key]
        del resolved["exchange"]["liquidation_trigger"]
    assert hunt == last


def test_minimal_scenario_fills_every_default():
    scenario = Scenario(name="tiny", duration_s=60)
    assert scenario.step_s == 1.0 and scenario.seed == 0
    assert scenario.outputs.series_interval_s == 1.0  # defaults to the step
    assert scenario.outputs.heatmap_interval_s == 60.0
    assert scenario.index.model == "spot" and scenario.index.initial_price == 100_000.0
    assert scenario.index.spot.makers.count == 2 and scenario.index.spot.value.count == 5
    assert scenario.agents.whale.count == 0
    assert scenario.events == ()


def test_series_interval_defaults_to_a_non_default_step():
    assert Scenario(name="coarse", duration_s=600, step_s=5).outputs.series_interval_s == 5.0


def test_partial_spot_block_keeps_the_spot_population_defaults():
    scenario = Scenario.model_validate(
        {"name": "s", "duration_s": 60, "index": {"spot": {"makers": {"levels": 3}}}})
    assert scenario.index.spot.makers.count == 2
    assert scenario.index.spot.makers.levels == 3
    assert scenario.index.spot.value.count == 5


def test_exchange_defaults_mirror_exchange_config():
    assert ExchangeSpec().to_config(100_000.0) == ExchangeConfig()
    assert ExchangeSpec().to_config(100_000.0).tiers == BTCUSDT_TIERS


def test_exchange_to_config_maps_trigger_tiers_and_initial_price():
    spec = ExchangeSpec.model_validate({
        "liquidation_trigger": "last",
        "tiers": [{"floor": 0, "max_leverage": 50, "mmr": 0.01, "cum": 0},
                  {"floor": 1_000_000, "max_leverage": 20, "mmr": 0.025, "cum": 15_000}]})
    config = spec.to_config(2_500.0)
    assert config.liquidation_trigger == TRIGGER_LAST
    assert config.initial_price == 2_500.0
    assert config.tiers == (MarginTier(0.0, 50.0, 0.01, 0.0),
                            MarginTier(1_000_000.0, 20.0, 0.025, 15_000.0))
    assert ExchangeSpec().to_config(1.0).liquidation_trigger == TRIGGER_MARK


def test_spot_to_config_uses_the_spot_fees_and_grid():
    spot = Scenario(name="s", duration_s=60).index.spot
    config = spot.to_config(100_000.0)
    assert (config.maker_fee, config.taker_fee) == (0.0001, 0.0002)
    assert (config.tick_size, config.lot_size) == (0.1, 0.001)


def test_build_market_makes_the_spot_book_that_spot_to_config_describes():
    # Spot rules off their defaults, so that a perp field or a default in their place shows.
    scenario = load_scenario("calm", {"index.initial_price": 2_500.0,
                                      "index.spot.tick_size": 0.5, "index.spot.lot_size": 0.01,
                                      "index.spot.maker_fee": 0.0003,
                                      "index.spot.taker_fee": 0.0004,
                                      "agents.retail.count": 10})
    spot = build_market(scenario).model.spot.config
    assert spot == scenario.index.spot.to_config(scenario.index.initial_price)
    # The spot fees and grid at the index's initial price, no insurance fund, no funding
    # (interest, clamp and cap 0), every other field at ExchangeConfig's default.
    assert spot == ExchangeConfig(tick_size=0.5, lot_size=0.01, maker_fee=0.0003,
                                  taker_fee=0.0004, initial_price=2_500.0, insurance_fund=0.0,
                                  interest_rate=0.0, funding_clamp=0.0, funding_cap=0.0)


def test_exogenous_index_has_no_spot_book():
    scenario = load_scenario("calm", {"index.model": "exogenous", "agents.retail.count": 10,
                                      "index.spot.basket.venues": []})
    assert build_market(scenario).model.spot is None


def test_scenario_is_frozen():
    scenario = Scenario(name="tiny", duration_s=60)
    with pytest.raises(ValueError):
        scenario.seed = 3  # type: ignore[misc]


def test_load_by_path_and_by_path_object(tmp_path):
    path = write(tmp_path, "name: mine\nduration_s: 600\nagents: {retail: {count: 10}}\n")
    assert load_scenario(str(path)).agents.retail.count == 10
    assert load_scenario(path).name == "mine"


def test_overrides_set_nested_values_and_change_the_hash():
    base = load_scenario("whale_hunt")
    changed = load_scenario("whale_hunt", ["agents.retail.count=100",
                                           "exchange.liquidation_trigger=last",
                                           "agents.retail.leverage_mix={10: 0.5, 20: 0.5}",
                                           "seed=7"])
    assert changed.agents.retail.count == 100
    assert changed.exchange.liquidation_trigger == "last"
    assert changed.agents.retail.leverage_mix == {10.0: 0.5, 20.0: 0.5}
    assert changed.seed == 7
    assert changed.sha256() != base.sha256()


def test_override_reaches_into_event_lists():
    scenario = load_scenario("short_squeeze", ["events.0.at_s=60"])
    assert scenario.events[0].at_s == 60.0
    assert scenario.events[1] == load_scenario("short_squeeze").events[1]


def test_override_creates_missing_blocks(tmp_path):
    path = write(tmp_path, "name: bare\nduration_s: 600\n")
    assert load_scenario(path, ["agents.whale.count=1"]).agents.whale.count == 1


def test_validate_command_accepts_overrides():
    result = CliRunner().invoke(main, ["validate", "calm", "--set", "agents.retail.count=100"])
    assert result.exit_code == 0, result.output
    assert load_scenario("calm", ["agents.retail.count=100"]).sha256() in result.stdout


def test_events_are_typed_by_kind(tmp_path):
    path = write(tmp_path, """\
name: shocks
duration_s: 3600
agents: {whale: {count: 1}}
events:
  - {kind: index_jump, at_s: 60, log_return: -0.02}
  - {kind: whale_active, from_s: 0, to_s: 1800}
  - {kind: maker_withdrawal, from_s: 100, to_s: 200, fraction: 1}
""")
    jump, whale, withdrawal = load_scenario(path).events
    assert (jump.kind, jump.at_s, jump.log_return) == ("index_jump", 60.0, -0.02)
    assert (whale.kind, whale.from_s, whale.to_s) == ("whale_active", 0.0, 1800.0)
    assert (withdrawal.kind, withdrawal.fraction) == ("maker_withdrawal", 1.0)


def test_a_regime_changes_the_fundamental_and_the_crowd_from_its_time_on():
    overrides = {"duration_s": 120, "warm_start.history_s": 0,
                 "index.drift_per_year": 0.0, "index.volatility_per_year": 0.5,
                 "agents.retail.long_bias": 0.5,
                 "events": [{"kind": "regime", "at_s": 60, "drift_per_year": 2.0,
                             "long_bias": 0.8}]}
    market = build_market(load_scenario("calm", overrides))
    model = market.model
    crowds = [market.agents[kind][0] for kind in ("retail", "holder", "scalper")]
    while model.t < 59.0:
        model.step()
    assert model.fundamental.mu == 0.0
    assert [crowd.params.long_bias for crowd in crowds] == [0.5, 0.5, 0.5]
    while model.t < 60.0:
        model.step()
    # drift and lean as the regime names them; the volatility it leaves alone stays 0.5
    assert (model.fundamental.mu, model.fundamental.sigma) == (2.0, 0.5)
    assert [crowd.params.long_bias for crowd in crowds] == [0.8, 0.8, 0.8]
    assert ("regime drift_per_year=2 long_bias=0.8" in
            [kind for _, _, kind, _ in model.events])


def test_a_regime_that_changes_nothing_is_refused(tmp_path):
    path = write(tmp_path, "name: idle\nduration_s: 600\nevents: [{kind: regime, at_s: 60}]\n")
    with pytest.raises(ScenarioError, match="at least one of drift_per_year"):
        load_scenario(path)


def test_sha256_is_of_the_sorted_canonical_json():
    scenario = load_scenario("calm")
    canonical = json.dumps(scenario.resolved(), sort_keys=True, separators=(",", ":"))
    assert scenario.canonical_json() == canonical
    import hashlib
    assert scenario.sha256() == hashlib.sha256(canonical.encode()).hexdigest()


def test_hash_ignores_spelling_and_defaults_written_out(tmp_path):
    terse = write(tmp_path, "name: same\nduration_s: 600\n"
                            "agents: {retail: {leverage_mix: {5: 0.5, 10: 0.5}}}\n", "a.yaml")
    verbose = write(tmp_path, """\
name: same
duration_s: 600.0
step_s: 1
seed: 0
exchange: {tiers: binance_btcusdt, liquidation_trigger: mark}
agents:
  retail: {leverage_mix: {5.0: 0.5, 10.0: 0.5}}
  whale: {count: 0}
outputs: {series_interval_s: 1}
""", "b.yaml")
    assert load_scenario(terse).sha256() == load_scenario(verbose).sha256()
    assert load_scenario(terse, ["seed=1"]).sha256() != load_scenario(terse).sha256()


def test_resolved_scenario_is_strict_json_and_reads_back_to_the_same_scenario():
    scenario = load_scenario("whale_hunt")
    text = json.dumps(scenario.resolved(), allow_nan=False)  # no Infinity in the manifest
    assert math.isinf(scenario.agents.whale.active_to_s)
    again = Scenario.model_validate(json.loads(text))
    assert again == scenario
    assert again.sha256() == scenario.sha256()


def test_exponent_floats_are_numbers_not_strings(tmp_path):
    path = write(tmp_path, "name: exp\nduration_s: 3.6e3\nagents: {retail: {count: 1e3}}\n")
    with pytest.raises(ScenarioError, match=r"agents\.retail\.count: got 1000\.0"):
        load_scenario(path)  # a count must be written as an integer
    path = write(tmp_path, "name: exp\nduration_s: 3.6e3\nagents: {whale: {wallet: 5e6}}\n")
    scenario = load_scenario(path)
    assert scenario.duration_s == 3600.0 and scenario.agents.whale.wallet == 5e6


def test_scenario_error_lists_every_field_problem_at_once(tmp_path):
    path = write(tmp_path, "name: many\nduration_s: -1\nseed: -2\nagents: {noise: {count: -3}}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    assert [p.split(": ")[1] for p in problems] == ["duration_s", "seed", "agents.noise.count"]
    assert all(p.startswith(f"{path}: ") for p in problems)
    assert str(info.value) == "\n".join(problems)


def test_cross_field_problems_are_reported_together(tmp_path):
    path = write(tmp_path, """\
name: cross
duration_s: 600
agents: {whale: {count: 1, leverage: 200}, arbitrageur: {leverage: 130}}
events: [{kind: index_jump, at_s: 900, log_return: 0.01}]
""")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    paths = [p.split(": ")[1] for p in info.value.problems]
    assert paths == ["agents.arbitrageur.leverage", "agents.whale.leverage", "events[0].at_s"]


def test_list_command_prints_each_name_with_its_first_description_line():
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(BUNDLED)
    calm_line = next(line for line in lines if line.startswith("calm "))
    first = load_scenario("calm").description.splitlines()[0]
    assert calm_line.split(None, 1)[1] == first


def test_pyproject_ships_the_yaml_files_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.yaml" in config["tool"]["setuptools"]["package-data"]["scenarios"]


def test_the_spot_book_charges_no_funding():
    # Rate = clip(premium + clip(interest - premium, -clamp, +clamp), -cap, +cap) (Binance's
    # rule): with interest, clamp and cap all 0 a premium of 1 % (or -1 %) settles at 0.
    from scenarios.schema import SpotSpec
    from sim.exchange.perp import funding_rate

    cfg = SpotSpec().to_config(100_000.0)
    assert (cfg.interest_rate, cfg.funding_clamp, cfg.funding_cap) == (0.0, 0.0, 0.0)
    for premium in (0.01, -0.01):
        assert funding_rate(premium, cfg.interest_rate, cfg.funding_clamp,
                            cfg.funding_cap) == 0.0
