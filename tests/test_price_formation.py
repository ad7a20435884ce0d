"""Price formation: learning makers, informed traders, self-exciting arrivals and the flow the
model publishes, each checked against its rule by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.excitation import Excitation
from agents.flow import RandomBlocks
from agents.informed import InformedTraders
from agents.market_maker import MarketMaker, concave_flow
from agents.params import ExcitationParams, InformedParams, MarketMakerParams
from sim.exchange import BUY, MARKET, SELL
from tests.market_builders import quiet_model, quote, takers_paid_any_price

BP = 1e-4

# ---------------------------------------------------------------- the model's published flow


def test_each_step_publishes_signed_taker_flow_volume_and_the_perps_move():
    model = quiet_model()
    ex = model.perp
    quote(ex, 99_990.0, 100_010.0, lots=1_000)  # 1 BTC a side
    taker = int(ex.open_accounts(1, 1e7, 10.0)[0])
    model.step()  # the quotes' mid (100,000) becomes the reference for the move
    ex.submit(taker, BUY, MARKET, 300)  # 0.3 BTC at 100,010 = 30,003 USD bought
    ex.submit(taker, SELL, MARKET, 100)  # 0.1 BTC at 99,990 = 9,999 USD sold
    model.step()
    assert model.taker_flow_usd["perp"] == pytest.approx(30_003.0 - 9_999.0)
    assert model.volume_usd["perp"] == pytest.approx(30_003.0 + 9_999.0)
    assert model.taker_buy_high["perp"] == pytest.approx(100_010.0)
    assert model.taker_sell_low["perp"] == pytest.approx(99_990.0)
    assert model.move_bps == pytest.approx(0.0)  # the mid is still (99,990 + 100,010) / 2
    ex.submit(taker, BUY, MARKET, 700)  # the rest of the ask: the mid is gone, last 100,010
    model.step()
    assert math.isnan(model.taker_sell_low["perp"])  # nobody sold at market this step
    assert model.move_bps == pytest.approx(math.log(100_010.0 / 100_000.0) * 1e4)
    assert model.liquidated_usd == 0.0


# ---------------------------------------------------------------- self-exciting arrivals


def test_without_excitation_the_rate_is_the_base_rate():
    e = Excitation(2.0, ExcitationParams(), step_s=1.0)
    e.update(50, move_bps=100.0, liquidated_usd=1e8)
    assert e.rate == 2.0


def test_excitation_kicks_and_decays_by_the_rule():
    p = ExcitationParams(branching=0.5, decay_s=100.0, move_threshold_bps=3.0, move_boost=0.1,
                         liquidation_boost=0.5, max_multiple=100.0)
    e = Excitation(1.0, p, step_s=1.0)
    assert e.rate == pytest.approx(0.5)  # baseline mu = 1 * (1 - 0.5)
    e.update(10, 0.0, 0.0)  # own events: 0.5 * 10 / 100 = 0.05
    assert e.rate == pytest.approx(0.55)
    e.update(0, 0.0, 0.0)  # one second of decay: 0.05 * exp(-1 / 100) = 0.0495025
    assert e.rate == pytest.approx(0.5 + 0.05 * math.exp(-0.01))
    e = Excitation(2.0, p, step_s=1.0)
    e.update(0, 13.0, 0.0)  # 10 bp past the threshold: 2 * 0.1 * 10 = 2 events/s
    assert e.rate == pytest.approx(1.0 + 2.0)
    e = Excitation(2.0, p, step_s=1.0)
    e.update(0, 2.0, 4e6)  # under the move threshold; 4M liquidated: 2 * 0.5 * 4 = 4
    assert e.rate == pytest.approx(1.0 + 4.0)


def test_excitation_is_capped():
    p = ExcitationParams(move_boost=10.0, max_multiple=3.0)
    e = Excitation(1.0, p, step_s=1.0)
    e.update(0, 1_000.0, 0.0)
    assert e.rate == 3.0


def test_a_self_exciting_crowd_keeps_its_base_rate_on_average_and_clusters():
    # mu / (1 - n) with mu = base * (1 - n) is the base rate (Hawkes 1971). Counts of
    # 10-minute windows are overdispersed, unlike Poisson counts: the rate's stationary variance
    # is base * n^2 / (2 decay (1 - n)) = 0.5 * 0.49 / 180 = 1.36e-3, which adds about
    # 600^2 * 1.36e-3 * 0.85 = 416 (0.85: the rate's autocorrelation over the window, roughly)
    # to the Poisson variance of 300: a ratio near 2.4, checked above 1.5.
    base, steps = 0.5, 360_000
    rng = np.random.default_rng(7)
    e = Excitation(base, ExcitationParams(branching=0.7, decay_s=300.0), step_s=1.0)
    counts = np.empty(steps, dtype=np.int64)
    for k in range(steps):
        n = int(rng.poisson(e.rate))
        e.update(n, 0.0, 0.0)
        counts[k] = n
    assert counts.mean() == pytest.approx(base, rel=0.1)
    per_window = counts.reshape(-1, 600).sum(axis=1)
    assert per_window.var() > 1.5 * per_window.mean()


def test_poisson_draws_by_inversion_have_poisson_moments():
    draws = RandomBlocks(np.random.default_rng(3))
    x = np.array([draws.poisson(2.5) for _ in range(100_000)])
    assert x.mean() == pytest.approx(2.5, rel=0.02)
    assert x.var() == pytest.approx(2.5, rel=0.03)
    assert draws.poisson(0.0) == 0
    big = np.array([draws.poisson(50.0) for _ in range(20_000)])  # the generator's branch
    assert big.mean() == pytest.approx(50.0, rel=0.01)


# ---------------------------------------------------------------- learning makers


def test_concave_flow_is_linear_for_small_flow_and_a_square_root_for_large():
    phi0 = 1e6
    # 2 Phi0 (sqrt(1 + 3) - 1) = 2M; the sign follows the flow: -2M (sqrt(9) - 1) = -4M.
    assert concave_flow(3e6, phi0) == pytest.approx(2e6)
    assert concave_flow(-8e6, phi0) == pytest.approx(-4e6)
    # 2e6 (sqrt(1.001) - 1) = 999.75: within 0.03 % of the flow itself.
    assert concave_flow(1_000.0, phi0) == pytest.approx(999.750, abs=1e-3)


def learning_maker(model, **overrides) -> MarketMaker:
    params = {"count": 1, "impact_bps_per_musd": 2.0, "concavity_notional": 1e6,
              "anchor": "none", "flow_memory_s": 86_400.0,
              "reference_depth_notional": 4.0, **overrides}
    return MarketMaker(model, MarketMakerParams(**params))


def test_a_learning_maker_moves_its_fair_value_by_lambda_times_the_concave_flow():
    model = quiet_model()
    takers_paid_any_price(model)
    maker = learning_maker(model)
    # An empty book: visible depth 0, so the depth multiple is reference (4 USD) / 1 USD = 4,
    # the cap; no volatility, so the vol multiple is 1. lambda = 2e-4 / 1e6 * 4 = 8e-10 / USD.
    model.taker_flow_usd["perp"] = 3e6
    maker.learn(None)
    # G(3M) - G(0) = 2M: log move 8e-10 * 2e6 = 1.6e-3.
    assert maker.fair == pytest.approx(100_000.0 * math.exp(1.6e-3))
    assert maker.flow_memory == pytest.approx(3e6)
    # Selling the same 3M back: G(0) - G(3M) = -2M, back to 100,000 exactly.
    model.taker_flow_usd["perp"] = -3e6
    maker.learn(None)
    assert maker.fair == pytest.approx(100_000.0)


def test_a_learning_maker_moves_no_further_than_the_prices_its_takers_paid():
    # Unbounded, 3M bought moves F to 100,000 x exp(1.6e-3) = 100,160.1 (the test above).
    model = quiet_model()
    maker = learning_maker(model)
    model.taker_flow_usd["perp"] = 3e6
    model.taker_buy_high["perp"] = 100_050.0  # the highest price a buyer paid
    maker.learn(None)
    assert maker.fair == pytest.approx(100_050.0)
    # Net selling that the sellers' prices do not confirm (they sold at 100,060, above F):
    # F does not move down, and never up on net selling.
    model.taker_flow_usd["perp"] = -3e6
    model.taker_sell_low["perp"] = 100_060.0
    maker.learn(None)
    assert maker.fair == pytest.approx(100_050.0)
    # Another venue's flow with no taker on the maker's own venue moves nothing.
    other = quiet_model(spot=True)
    spot_maker = learning_maker(other, cross_venue_weight=1.0)
    other.taker_flow_usd["spot"] = 3e6
    spot_maker.learn(None)
    assert spot_maker.fair == pytest.approx(100_000.0)


def test_split_flow_moves_the_price_as_one_block_and_less_than_its_parts_alone():
    model = quiet_model()
    takers_paid_any_price(model)
    one, split = learning_maker(model), learning_maker(model)
    model.taker_flow_usd["perp"] = 10e6
    one.learn(None)
    model.taker_flow_usd["perp"] = 1e6
    for _ in range(10):
        split.learn(None)
    # With no forgetting the increments telescope: G(10M) either way, 2M (sqrt(11) - 1).
    assert split.fair == pytest.approx(one.fair)
    assert math.log(one.fair / 1e5) == pytest.approx(8e-10 * 2e6 * (math.sqrt(11) - 1))
    # Concave: 10M moves the price less than 10 times what the first 1M did.
    first = 8e-10 * 2e6 * (math.sqrt(2) - 1)
    assert math.log(one.fair / 1e5) < 10 * first


def test_the_other_venues_flow_counts_with_its_weight_and_the_anchor_pulls():
    model = quiet_model(spot=True)
    takers_paid_any_price(model)
    maker = learning_maker(model, cross_venue_weight=0.5, anchor="index",
                           anchor_half_life_s=10.0, index_weight=1.0)
    model.taker_flow_usd["spot"] = 6e6  # weight 0.5: 3M of perp flow, a move of 1.6e-3
    maker.learn(None)
    moved = 100_000.0 * math.exp(1.6e-3)
    # Then the pull toward the index (100,000) by 1 - 2 ** (-1 / 10) = 0.066967.
    share = 1.0 - 2.0 ** -0.1
    assert maker.fair == pytest.approx(moved + share * (100_000.0 - moved))


def test_a_deeper_book_lowers_the_impact():
    model = quiet_model()
    maker = learning_maker(model, reference_depth_notional=2e6)
    quote(model.perp, 99_995.0, 100_005.0, lots=10_000)  # 10 BTC a side inside 10 bp
    # Visible depth: 10 * 99,995 + 10 * 100,005 = 2,000,000 USD, the reference: multiple 1.
    assert maker.visible_depth_usd(100_000.0) == pytest.approx(2_000_000.0)
    assert maker.impact_per_usd(100_000.0) == pytest.approx(2e-4 / 1e6)
    quote(model.perp, 99_995.0, 100_005.0, lots=30_000)  # 4x the depth: a quarter
    assert maker.impact_per_usd(100_000.0) == pytest.approx(0.25 * 2e-4 / 1e6)


# ---------------------------------------------------------------- informed traders


def informed(model, **overrides) -> InformedTraders:
    params = {"count": 1, "estimate_noise_bps": 0.0, "rate_per_s": 0.0, **overrides}
    return InformedTraders(model, InformedParams(**params))


def test_the_target_position_is_linear_in_the_mispricing_and_capped():
    crowd = informed(quiet_model(), position_per_bp=50_000.0, max_position_notional=1e6)
    # ln(estimate / price) = 4 bp: 50,000 * 4 = 200,000 USD long.
    assert crowd.target_notional(100_000.0 * math.exp(4 * BP), 100_000.0) == \
        pytest.approx(200_000.0)
    # 30 bp short would be 1.5M: capped at the 1M of capital.
    assert crowd.target_notional(100_000.0 * math.exp(-30 * BP), 100_000.0) == -1e6


def test_an_error_drifts_as_an_ou_process_with_its_half_life():
    model = quiet_model()
    crowd = informed(model, estimate_noise_bps=0.0)
    crowd.errors[0] = 10 * BP
    model.t = 3_600.0  # one half-life: e = 10 bp * 0.5 (no noise to add)
    assert crowd.estimate(0) == pytest.approx(100_000.0 * math.exp(5 * BP))


def test_an_informed_traders_limit_is_where_its_demand_asks_for_the_position_it_ends_with():
    crowd = informed(quiet_model(), position_per_bp=50_000.0)
    # Ending 100,000 USD long wants a price 100,000 / 50,000 = 2 bp under the estimate:
    # 100,000 * exp(-2e-4) = 99,980.0020; ending 150,000 short, 3 bp over it.
    assert crowd.limit_price(100_000.0, 100_000.0) == pytest.approx(100_000.0 * math.exp(-2e-4))
    assert crowd.limit_price(100_000.0, -150_000.0) == pytest.approx(100_000.0 * math.exp(3e-4))


def test_an_informed_trader_sells_down_to_its_target_though_it_still_values_above_the_bid():
    model = quiet_model()
    quote(model.perp, 99_990.0, 100_010.0, lots=10_000)
    crowd = informed(model, position_per_bp=50_000.0, clip_notional=100_000.0)
    buyer = int(model.perp.open_accounts(1, 1e8, 10.0)[0])
    model.perp.submit(buyer, SELL, MARKET, 5_000)  # 5 BTC long for the crowd's account:
    model.perp.submit(crowd.accounts[0], BUY, MARKET, 5_000)  # bought at 100,010
    model.fundamental.price = 100_000.0 * math.exp(2 * BP)  # worth 2 bp over the mid
    crowd.decide(0)
    # Held about 500,000 USD, target 50,000 * 2 = 100,000: sell one 100,000 USD clip (1 BTC).
    # Its limit: estimate * exp(-(500,000 - 100,000) / 5e8) = 100,020 * exp(-8e-4) = 99,940,
    # under the bid (99,990), so it fills though the trader still values the asset above it.
    assert model.perp.position_lots(crowd.accounts[0]) == 4_000


def test_an_informed_trader_buys_toward_its_target_within_clip_and_budget():
    model = quiet_model()
    quote(model.perp, 99_990.0, 100_010.0, lots=10_000)
    crowd = informed(model, position_per_bp=50_000.0, clip_notional=100_000.0,
                     participation_burst_notional=60_000.0)
    model.fundamental.price = 100_000.0 * math.exp(20 * BP)  # 20 bp above the mid
    crowd.decide(0)
    # Target 50,000 * 20 = 1M; the clip allows 100,000, the budget 60,000: 0.6 BTC at 100,000
    # is 600 lots, bought at the ask (100,010, under the estimate 100,200).
    assert model.perp.position_lots(crowd.accounts[0]) == 600
    assert crowd.budget_usd == pytest.approx(0.0)
    crowd.decide(0)  # nothing left in the budget: no order
    assert model.perp.position_lots(crowd.accounts[0]) == 600


def test_the_participation_budget_refills_with_the_markets_volume():
    model = quiet_model()
    crowd = informed(model, participation=0.25, participation_burst_notional=1e6)
    crowd.budget_usd = 0.0
    model.volume_usd = {"perp": 800_000.0, "spot": 200_000.0}
    crowd.act()  # + 0.25 * 1M
    assert crowd.budget_usd == pytest.approx(250_000.0)
    model.volume_usd = {"perp": 8e6, "spot": 0.0}
    crowd.act()  # + 2M, kept up to the 1M burst
    assert crowd.budget_usd == pytest.approx(1e6)


def test_with_no_anchor_volatility_is_read_off_the_fair_value_not_the_book():
    # Read off the mid, pulled quotes would hollow the book and keep themselves pulled.
    model = quiet_model()
    takers_paid_any_price(model)
    maker = learning_maker(model)  # anchor: none
    quote(model.perp, 99_000.0, 101_000.0, lots=1_000)  # a hollow book, its mid far from fair
    model.taker_flow_usd["perp"] = 3e6
    maker.learn(None)
    assert maker.anchor_price() == maker.fair == pytest.approx(100_000.0 * math.exp(1.6e-3))


def test_the_inventory_skew_is_capped():
    from agents.market_maker import reservation_price

    # Aversion 5, half spread 15 bp (widened by volatility), q = -2: uncapped the reservation
    # would sit 5 * 15 bp * 2 = 150 bp above the fair value; capped at 20 bp: 100,200.
    p = MarketMakerParams(inventory_aversion=5.0, max_inventory_notional=1e6,
                          inventory_hard_limit=3.0, max_skew_bps=20.0)
    assert reservation_price(100_000.0, -2e6, 15 * BP, p) == pytest.approx(100_200.0)
    assert reservation_price(100_000.0, 2e6, 15 * BP, p) == pytest.approx(99_800.0)
    # Under the cap it is the plain rule: q = 0.1, 5 * 15 bp * 0.1 = 7.5 bp.
    assert reservation_price(100_000.0, 1e5, 15 * BP, p) == pytest.approx(99_925.0)


def test_the_depth_multiple_is_capped_by_its_parameter():
    model = quiet_model()
    maker = learning_maker(model, impact_max_depth_multiple=2.0)
    # An empty book would give 4 USD / 1 USD = 4: capped at 2, lambda = 2e-4 / 1e6 * 2.
    assert maker.impact_per_usd(None) == pytest.approx(2 * 2e-4 / 1e6)
