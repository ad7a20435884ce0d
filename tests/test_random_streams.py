"""Common random numbers: one random stream per component, keyed by its name only.

Two runs of one seed that differ in one population (its size, the whale on or off, the map the
whale reads) must see the same news process and give every other population the same draws:
the basis of every paired comparison.
"""

from __future__ import annotations

import copy

import mesa
import numpy as np
import pytest

from agents import stages
from agents.base import Trader
from scenarios.runner import build_market, run
from scenarios.schema import ScenarioError, load_scenario
from sim.model import MarketModel
from tests.market_builders import quiet_model

# 15 minutes of whale_hunt with the whale active from minute 2 and a small crowd.
SHORT = {"duration_s": 900, "agents.retail.count": 2000, "agents.whale.active_from_s": 120}


def _fundamental_bytes(**changes) -> bytes:
    result = run("whale_hunt", seed=3, overrides={**SHORT, **changes})
    return result.series["fundamental"].to_numpy().tobytes()


@pytest.mark.slow
def test_fundamental_is_identical_whatever_the_crowd_the_whale_and_its_map():
    base = _fundamental_bytes()
    assert base == _fundamental_bytes(**{"agents.retail.count": 500})
    assert base == _fundamental_bytes(**{"agents.whale.count": 0})
    assert base == _fundamental_bytes(**{"agents.whale.heatmap": "estimated"})
    # ... and the seed does matter.
    other = run("whale_hunt", seed=4, overrides=SHORT).series["fundamental"].to_numpy()
    assert other.tobytes() != base


def test_a_bigger_crowd_changes_the_market_but_not_the_news():
    # The index and last price react to the crowd's orders; the fundamental does not.
    small = run("calm", seed=3, overrides={"duration_s": 600, "agents.retail.count": 500})
    big = run("calm", seed=3, overrides={"duration_s": 600, "agents.retail.count": 5000})
    assert np.array_equal(small.series["fundamental"], big.series["fundamental"])
    assert not np.array_equal(small.series["last"], big.series["last"], equal_nan=True)


def _first_draws(generator: np.random.Generator, n: int = 8) -> np.ndarray:
    return copy.deepcopy(generator).random(n)


def test_each_population_draws_the_same_whatever_the_others_sizes():
    def market(**changes):
        # calm with spot value traders back (its learning market has none on spot).
        base = {"duration_s": 600, "index.spot.value.count": 5}
        return build_market(load_scenario("calm", {**base, **changes}))

    base = market()
    more_retail = market(**{"agents.retail.count": 7000, "agents.value.count": 3})
    more_noise = market(**{"agents.noise.count": 50, "index.spot.makers.count": 5})
    for kind in ("noise", "spot_value"):
        want = _first_draws(base.agents[kind][0].draws.rng)
        assert np.array_equal(_first_draws(more_retail.agents[kind][0].draws.rng), want), kind
    # The crowd's own draws (leverage of each trader) do not move when others are resized.
    assert np.array_equal(base.agents["retail"][0].leverage,
                          more_noise.agents["retail"][0].leverage)
    # Spot makers draw nothing; resizing them leaves the spot value traders' stream alone.
    assert np.array_equal(_first_draws(more_noise.agents["spot_value"][0].draws.rng),
                          _first_draws(base.agents["spot_value"][0].draws.rng))


def _model(seed: int = 7) -> MarketModel:
    return quiet_model(seed=seed)


def test_a_stream_depends_on_the_seed_and_its_name_only():
    a, b = _model(), _model()
    assert np.array_equal(a.random_stream("perp/noise").random(4),
                          b.random_stream("perp/noise").random(4))
    # Asking for other streams first changes nothing: no shared counter.
    b.random_stream("perp/retail")
    assert np.array_equal(a.random_stream("perp/value").random(4),
                          b.random_stream("perp/value").random(4))
    assert not np.array_equal(a.random_stream("perp/noise").random(4),
                              a.random_stream("perp/value").random(4))
    assert not np.array_equal(a.random_stream("perp/noise").random(4),
                              _model(seed=8).random_stream("perp/noise").random(4))


class _NoStage(Trader):
    kind = "no_stage"

    def act(self) -> None:
        pass


class _BareAgent(mesa.Agent):
    def act(self) -> None:
        pass


def test_an_agent_without_a_stage_is_an_error_not_the_spot_stage():
    model = _model()
    with pytest.raises(TypeError, match="stage"):
        _NoStage(model)
    _BareAgent(model)  # a mesa agent that bypasses Trader is caught when the model steps
    with pytest.raises(TypeError, match="_BareAgent has no integer 'stage'"):
        model.step()


def test_stages_put_spot_first_and_the_crowd_last():
    order = [stages.SPOT, stages.MAKER, stages.ARBITRAGE, stages.WHALE, stages.VALUE,
             stages.NOISE, stages.RETAIL]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert stages.SPOT == 0


def test_overrides_as_a_mapping_equal_the_same_overrides_as_text():
    as_text = run("calm", seed=1, overrides=("duration_s=120", "agents.retail.count=300"))
    as_mapping = run("calm", seed=1, overrides={"duration_s": 120, "agents.retail.count": 300})
    assert as_text.manifest["scenario_sha256"] == as_mapping.manifest["scenario_sha256"]
    assert as_text.series.equals(as_mapping.series)


def test_a_bad_override_key_in_a_mapping_is_named():
    with pytest.raises(ScenarioError, match="agents.retail.cuont"):
        load_scenario("calm", {"agents.retail.cuont": 5})
    with pytest.raises(ScenarioError, match="expected a key path"):
        load_scenario("calm", {"agents retail": 5})
