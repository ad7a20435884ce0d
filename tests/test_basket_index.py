"""The index from a basket of spot venues, each clipped to a band around the median: the rule,
the model's venues and flows, the cross-venue arbitrageur and the scenario keys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents import stages
from agents.flow import ValueTraders
from agents.informed import InformedTraders
from agents.market_maker import MarketMaker
from agents.params import InformedParams, MarketMakerParams, ValueParams, VenueArbitrageParams
from agents.venue_arbitrage import VenueArbitrageur
from scenarios import runner
from scenarios.runner import build_market, run
from scenarios.schema import ScenarioError, SpotSpec, load_scenario
from sim.exchange import BUY, IOC, ExchangeConfig
from sim.fundamental import FundamentalProcess
from sim.model import MarketModel, basket_index
from tests.market_builders import quote, takers_paid_any_price

# Spot fees of the schema's spot book: maker 1 bp, taker 2 bp.
SPOT = ExchangeConfig(initial_price=100_000.0, maker_fee=0.0001, taker_fee=0.0002)
TWO_VENUES = [{"depth_scale": 0.5, "weight": 0.5}, {"depth_scale": 0.25, "weight": 0.25}]


def basket_model(n_venues: int, weights: list[float] | None = None,
                 clip_bps: float = 100.0) -> MarketModel:
    """Return a quiet model (the fundamental stays at 100,000) with ``n_venues`` spot books."""
    return MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0, volatility_per_year=0.0),
                       seed=1, spot_configs=[SPOT] * n_venues, spot_weights=weights,
                       clip_bps=clip_bps)


# ---------------------------------------------------------------- the rule


def test_an_outlier_venue_counts_at_the_edge_of_the_band_around_the_median():
    # Median of 100,000 / 100,050 / 103,000 is 100,050; the band is 100,050 x (1 +- 0.01) =
    # 99,049.5 .. 101,050.5: the first two stand, the third counts as 101,050.5.
    # Index = (1 x 100,000 + 0.5 x 100,050 + 0.5 x 101,050.5) / (1 + 0.5 + 0.5)
    #       = (100,000 + 50,025 + 50,525.25) / 2 = 200,550.25 / 2 = 100,275.125.
    index = basket_index([100_000.0, 100_050.0, 103_000.0], [1.0, 0.5, 0.5], 100.0)
    assert index == pytest.approx(100_275.125, rel=1e-12)


def test_within_the_band_the_index_is_the_plain_weighted_mean():
    # Median 100,020, band +-1 %: nothing clipped. (2 x 100,000 + 100,020 + 100,060) / 4
    # = 400,080 / 4 = 100,020.
    assert basket_index([100_000.0, 100_020.0, 100_060.0], [2.0, 1.0, 1.0], 100.0) == \
        pytest.approx(100_020.0, rel=1e-12)


def test_a_venue_below_the_band_is_lifted_to_its_lower_edge():
    # Two venues: the median is their mean, 99,000; a 50 bp band is 98,505 .. 99,495, so
    # 98,000 counts as 98,505 and 100,000 as 99,495: equal weights give 99,000.
    assert basket_index([98_000.0, 100_000.0], [1.0, 1.0], 50.0) == \
        pytest.approx(99_000.0, rel=1e-12)
    # With weights 3 : 1 the clipped prices give (3 x 98,505 + 99,495) / 4 = 98,752.5.
    assert basket_index([98_000.0, 100_000.0], [3.0, 1.0], 50.0) == \
        pytest.approx(98_752.5, rel=1e-12)


# ---------------------------------------------------------------- the model


def test_one_spot_venue_is_the_index_itself():
    model = basket_model(1)
    quote(model.spot, 99_990.0, 100_020.0)
    model.step()
    assert model.spots == [model.spot] and model.spot_names == ["spot"]
    assert model.index == model.spot.mid_price == pytest.approx(100_005.0)  # no arithmetic
    assert model.perp.index_price == model.index


def test_the_model_reads_the_index_from_every_venues_mid_clipped():
    model = basket_model(3, weights=[1.0, 0.5, 0.5])
    quote(model.spots[0], 99_990.0, 100_010.0)  # mid 100,000
    quote(model.spots[1], 100_040.0, 100_060.0)  # mid 100,050
    quote(model.spots[2], 102_990.0, 103_010.0)  # mid 103,000, past the band
    model.step()
    assert model.spot is model.spots[0]
    assert model.spot_names == ["spot", "spot1", "spot2"]
    assert model.venue_mids == pytest.approx([100_000.0, 100_050.0, 103_000.0], rel=1e-12)
    # The first test's arithmetic: 100,275.125.
    assert model.index == pytest.approx(100_275.125, rel=1e-12)
    assert model.perp.index_price == model.index


def test_a_venue_with_an_empty_side_counts_at_its_last_price_else_the_fundamental():
    model = basket_model(2)
    quote(model.spots[0], 100_090.0, 100_110.0)  # mid 100,100
    model.step()  # spot1 is empty and never traded: the fundamental, 100,000
    assert model.venue_mids == pytest.approx([100_100.0, 100_000.0], rel=1e-12)
    assert model.index == pytest.approx(100_050.0, rel=1e-12)  # both inside the band
    spot1 = model.spots[1]
    quote(spot1, 99_980.0, 100_020.0, lots=1)
    taker = int(spot1.open_accounts(1, 1e7, 5.0)[0])
    spot1.submit(taker, BUY, IOC, 1, spot1.to_ticks(100_020.0))  # takes the only ask
    model.step()  # spot1 has no ask: its last trade, 100,020
    assert model.venue_mids == pytest.approx([100_100.0, 100_020.0], rel=1e-12)
    assert model.index == pytest.approx(100_060.0, rel=1e-12)


def test_every_venue_publishes_its_flow_under_its_name():
    model = basket_model(3)
    for spot in model.spots:
        quote(spot, 99_990.0, 100_010.0, lots=1_000)
    taker = int(model.spots[2].open_accounts(1, 1e7, 5.0)[0])
    model.step()
    # 0.2 BTC bought at 100,010 on spot2: 20,002 USD of buyer-initiated flow.
    model.spots[2].submit(taker, BUY, IOC, 200, model.spots[2].to_ticks(100_010.0))
    model.step()
    assert set(model.taker_flow_usd) == {"perp", "spot", "spot1", "spot2"}
    assert model.taker_flow_usd["spot2"] == pytest.approx(20_002.0)
    assert model.volume_usd["spot2"] == pytest.approx(20_002.0)
    assert model.taker_flow_usd["spot"] == model.taker_flow_usd["spot1"] == 0.0


def test_without_a_spot_book_there_is_no_spot_venue():
    model = MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0), seed=1)
    assert model.spots == [] and model.spot is None and list(model.exchanges) == ["perp"]
    with pytest.raises(ValueError, match="'spot'"):
        ValueTraders(model, ValueParams(count=1), venue="spot")


def test_agents_trade_on_extra_venues_in_the_spot_stage_with_streams_of_their_own():
    model = basket_model(3)
    value = ValueTraders(model, ValueParams(count=3), venue="spot1")
    assert value.exchange is model.spots[1] and value.stage == stages.SPOT
    # Its draws come from the stream "spot1/value": not the major venue's "spot/value".
    first = value.draws.rng.random()
    assert first == model.random_stream("spot1/value").random()
    assert first != model.random_stream("spot/value").random()
    with pytest.raises(ValueError, match="spot3"):
        ValueTraders(model, ValueParams(count=3), venue="spot3")


def test_a_spot_maker_learns_from_the_sum_of_every_other_venues_flow():
    params = MarketMakerParams(count=1, impact_bps_per_musd=2.0, concavity_notional=1e6,
                               anchor="none", flow_memory_s=86_400.0,
                               reference_depth_notional=4.0, cross_venue_weight=0.5)
    on_perp, spread_out = basket_model(3), basket_model(3)
    takers_paid_any_price(on_perp)
    takers_paid_any_price(spread_out)
    a = MarketMaker(on_perp, params, venue="spot1")
    b = MarketMaker(spread_out, params, venue="spot1")
    on_perp.taker_flow_usd["perp"] = 6e6
    spread_out.taker_flow_usd.update({"perp": 2e6, "spot": 3e6, "spot2": 1e6})
    a.learn(None)
    b.learn(None)
    # Either way 0.5 x 6M = 3M of flow: an empty book makes lambda 2e-4 / 1e6 x 4 = 8e-10 per
    # USD, and G(3M) = 2 x 1M x (sqrt(1 + 3) - 1) = 2M: a log move of 1.6e-3.
    assert a.fair == pytest.approx(100_000.0 * math.exp(1.6e-3))
    assert b.fair == pytest.approx(a.fair, rel=1e-12)


def test_a_perp_maker_learns_from_every_spot_venues_flow():
    params = MarketMakerParams(count=1, impact_bps_per_musd=2.0, concavity_notional=1e6,
                               anchor="none", flow_memory_s=86_400.0,
                               reference_depth_notional=4.0, cross_venue_weight=1.0)
    model = basket_model(3)
    takers_paid_any_price(model)
    maker = MarketMaker(model, params)
    model.taker_flow_usd.update({"spot": 1e6, "spot1": 1e6, "spot2": 1e6})
    maker.learn(None)
    # 3M of spot flow at weight 1: the same 1.6e-3 log move as above.
    assert maker.fair == pytest.approx(100_000.0 * math.exp(1.6e-3))


def test_the_informed_participation_budget_reads_every_venues_volume():
    model = basket_model(3)
    crowd = InformedTraders(model, InformedParams(count=1, rate_per_s=0.0, participation=0.25,
                                                  participation_burst_notional=1e7))
    crowd.budget_usd = 0.0
    model.volume_usd.update({"perp": 400_000.0, "spot": 300_000.0, "spot1": 200_000.0,
                             "spot2": 100_000.0})
    crowd.act()  # 0.25 x 1,000,000
    assert crowd.budget_usd == pytest.approx(250_000.0)


# ---------------------------------------------------------------- the cross-venue arbitrageur


def crossed_venues(arb_params: VenueArbitrageParams) -> tuple[MarketModel, VenueArbitrageur]:
    """Two venues whose quotes cross: "spot" bids 100,100 for 3 BTC (ask 100,120), "spot1"
    offers 1.5 BTC at 100,000 (bid 99,980)."""
    model = basket_model(2)
    arb = VenueArbitrageur(model, arb_params)
    quote(model.spots[0], 100_100.0, 100_120.0, lots=3_000)
    quote(model.spots[1], 99_980.0, 100_000.0, lots=1_500)
    return model, arb


def test_the_arbitrageur_buys_the_cheap_venue_and_sells_the_dear_one():
    model, arb = crossed_venues(VenueArbitrageParams())
    spot, spot1 = model.spots
    # Costs: 3 bp + 2 bp + 2 bp of taker fees = 7 bp: 100,100 > 100,000 x 1.0007 = 100,070.
    # Size: min(3 BTC bid, 1.5 BTC offered, 100,000 / 100,000 = 1 BTC clip, 2M / 100,000 =
    # 20 BTC of room) = 1 BTC = 1,000 lots. The other pair (bid 99,980 < ask 100,120) is not
    # crossed.
    arb.act()
    assert spot1.position_lots(arb.accounts[1]) == 1_000
    assert spot.position_lots(arb.accounts[0]) == -1_000
    assert spot1.entry_price_usd(arb.accounts[1]) == pytest.approx(100_000.0)
    assert spot.entry_price_usd(arb.accounts[0]) == pytest.approx(100_100.0)
    # Taker fees: 2 bp of 100,000 = 20 USD; 2 bp of 100,100 = 20.02 USD.
    assert spot1.fees_paid_usd(arb.accounts[1]) == pytest.approx(20.0)
    assert spot.fees_paid_usd(arb.accounts[0]) == pytest.approx(20.02)
    # Next step the 0.5 BTC left at 100,000 is the smaller top: 500 lots more.
    arb.act()
    assert spot1.position_lots(arb.accounts[1]) == 1_500
    assert spot.position_lots(arb.accounts[0]) == -1_500
    assert spot1.best_ask_ticks() is None  # the offer is gone: nothing more to do
    assert spot.depth(BUY, 1)[1][0] == 1_500  # 3,000 - 1,000 - 500 lots left on the bid
    arb.act()
    assert spot.position_lots(arb.accounts[0]) == -1_500


def test_the_arbitrageur_stays_within_its_inventory_on_the_venue_it_sells():
    model, arb = crossed_venues(VenueArbitrageParams(max_inventory_notional=120_000.0))
    spot, spot1 = model.spots
    arb.act()  # min(3, 1.5, 1, 120,000 / 100,000 = 1.2, 120,000 / 100,100 = 1.1988) = 1 BTC
    assert spot.position_lots(arb.accounts[0]) == -1_000
    arb.act()
    # Room left: buying 1.2 - 1 = 0.2 BTC, selling 120,000 / 100,100 - 1 = 19,900 / 100,100
    # = 0.19880 BTC: 198 lots.
    assert spot1.position_lots(arb.accounts[1]) == 1_198
    assert spot.position_lots(arb.accounts[0]) == -1_198


def test_a_cross_inside_the_fees_and_threshold_is_left_alone():
    model = basket_model(2)
    arb = VenueArbitrageur(model, VenueArbitrageParams())
    quote(model.spots[0], 100_060.0, 100_080.0)  # 6 bp over the other's ask: under 7 bp
    quote(model.spots[1], 99_980.0, 100_000.0)
    arb.act()
    assert [spot.position_lots(account)
            for spot, account in zip(model.spots, arb.accounts, strict=True)] == [0, 0]


# ---------------------------------------------------------------- scenarios


def test_a_basket_run_records_each_venues_mid_and_the_index_made_of_them():
    result = run("calm", seed=3, overrides={"duration_s": 600,
                                           "index.spot.basket.venues": TWO_VENUES})
    series = result.series
    mids = series[["spot_mid_0", "spot_mid_1", "spot_mid_2"]].to_numpy()
    assert len(series) == 600 and not np.isnan(mids).any()
    expected = [basket_index(list(row), [1.0, 0.5, 0.25], 100.0) for row in mids]
    assert series["index"].tolist() == expected
    assert (mids[:, 1] != mids[:, 0]).any()  # three books, not one read three times
    agents = result.manifest["agents"]
    assert agents["spot1_market_maker"] == agents["spot2_market_maker"] == 2
    assert agents["venue_arbitrageur"] == 1


def test_a_single_venue_run_records_no_venue_mids():
    result = run("calm", seed=3, overrides={"duration_s": 60, "index.spot.basket.venues": []})
    assert not any(column.startswith("spot_mid") for column in result.series.columns)
    assert "venue_arbitrageur" not in result.manifest["agents"]


def test_the_manifest_counts_every_venues_order_messages():
    market = build_market(load_scenario("calm", {"duration_s": 60,
                                                 "index.spot.basket.venues": TWO_VENUES}))
    for _ in range(60):
        market.model.step()
    model = market.model
    per_venue = [model.perp.messages] + [spot.messages for spot in model.spots]
    assert all(n > 0 for n in per_venue)
    assert runner._manifest(market, 0.0)["order_messages"] == sum(per_venue)


def test_an_extra_venue_is_the_major_venues_population_scaled():
    small = SpotSpec(informed={"count": 4}).scaled(0.25)
    # 2 makers of 5M wallet, 200k levels and 8M inventory: a quarter each, counts kept.
    assert small.makers.count == 2
    assert (small.makers.wallet, small.makers.level_notional,
            small.makers.max_inventory_notional) == (1_250_000.0, 50_000.0, 2_000_000.0)
    assert small.makers.reference_depth_notional == 5_000_000.0  # a learning scale: kept
    assert (small.value.count, small.value.size_notional) == (5, 5_000.0)
    assert (small.informed.count, small.informed.position_per_bp,
            small.informed.clip_notional) == (4, 12_500.0, 25_000.0)
    assert small.latent_liquidity.depth_notional == 5_000_000.0  # 20M / 4
    assert small.latent_liquidity.levels == 16


@pytest.mark.parametrize("scale", [0, 2])
def test_a_venue_depth_scale_outside_0_to_1_is_rejected_naming_the_key(scale):
    with pytest.raises(ScenarioError) as info:
        load_scenario("calm", {"index.spot.basket.venues": [{"depth_scale": scale,
                                                             "weight": 0.5}]})
    message = str(info.value)
    assert "index.spot.basket.venues[0].depth_scale" in message
    assert f"got {scale}" in message


def test_a_basket_needs_a_spot_index():
    with pytest.raises(ScenarioError, match="index.spot.basket.venues: a basket of spot "
                                            "venues needs index.model: spot"):
        load_scenario("calm", {"index.model": "exogenous",
                               "index.spot.basket.venues": TWO_VENUES})


def test_an_unknown_key_in_a_venue_lists_the_venue_keys():
    with pytest.raises(ScenarioError, match=r"index.spot.basket.venues\[0\].wieght: unknown key; "
                                            r"did you mean weight\? \(expected one of: "
                                            r"depth_scale, weight\)"):
        load_scenario("calm", {"index.spot.basket.venues": [{"depth_scale": 0.5, "weight": 1,
                                                             "wieght": 1}]})
