"""Carry traders: the hedged pair at a premium and a discount, the dead band, the exit, the
capital limit, the repair of an unhedged leg, the crowd's draws and the scenario keys.

The hand-built market: the fundamental stays at 100,000 USD; a liquidity account rests a bid
and an ask on each book. The spot book quotes 99,995 / 100,005 (mid 100,000, which the model
reads as the index); the perp quotes put its mid where a test wants it. With the default
contracts (0.001 BTC lots on both venues) a clip of 50,000 USD at the index of 100,000 USD is
50,000 / (100,000 x 0.001) = 500 lots (0.5 BTC).
"""

from __future__ import annotations

import pandas as pd
import pytest

from agents import stages
from agents.carry import CarryTraders
from agents.flow import RandomBlocks
from agents.params import CarryParams
from scenarios.runner import build_market, run
from scenarios.schema import ScenarioError, load_scenario
from sim.model import MarketModel
from tests.market_builders import quiet_model, quote

CLIP_LOTS = 500


def carry_market(perp_bid: float, perp_ask: float, spot_lots: int = 10_000,
                 **overrides) -> tuple[MarketModel, CarryTraders]:
    """Return a quiet market with the spot mid (the index) at 100,000 and the perp quoted at
    ``perp_bid`` / ``perp_ask``, and one carry trader with 50,000 USD clips."""
    model = quiet_model(spot=True)
    quote(model.spot, 99_995.0, 100_005.0, lots=spot_lots)
    model.index = 100_000.0  # the spot mid, as the model reads it
    quote(model.perp, perp_bid, perp_ask)
    params = CarryParams(**{"count": 1, "clip_notional": 50_000.0, **overrides})
    return model, CarryTraders(model, params)


def legs(carry: CarryTraders, i: int = 0) -> tuple[int, int]:
    """Return trader ``i``'s (perp, spot) positions in lots."""
    m = carry.model
    return (m.perp.position_lots(carry.perp_accounts[i]),
            m.spot.position_lots(carry.spot_accounts[i]))


def requote_perp(model: MarketModel, bid: float, ask: float) -> None:
    """Replace the perp's resting liquidity with a fresh bid and ask."""
    for account in range(model.perp.n_accounts):
        for order_id in model.perp.open_orders(account):
            model.perp.cancel(account, order_id)
    quote(model.perp, bid, ask)


def test_a_perp_at_a_premium_is_sold_against_the_same_btc_bought_on_spot():
    # Perp mid (100,090 + 100,110) / 2 = 100,100: premium 100,100 / 100,000 - 1 = 10 bp > 5 bp.
    model, carry = carry_market(100_090.0, 100_110.0)
    assert carry.stage == stages.VALUE
    carry.decide(0)
    # The perp leg sells 500 lots at the bid; the spot leg buys the 500 lots it filled.
    assert legs(carry) == (-CLIP_LOTS, CLIP_LOTS)


def test_a_perp_at_a_discount_is_bought_against_a_spot_sale():
    # Mid 99,900: premium -10 bp < -5 bp: buy 500 lots of perp, sell 500 lots of spot.
    model, carry = carry_market(99_890.0, 99_910.0)
    carry.decide(0)
    assert legs(carry) == (CLIP_LOTS, -CLIP_LOTS)


def test_a_premium_below_the_entry_is_left_alone():
    # Mid 100,030: premium 3 bp, between the exit (1 bp) and the entry (5 bp).
    model, carry = carry_market(100_020.0, 100_040.0)
    carry.decide(0)
    assert legs(carry) == (0, 0)


def test_below_the_exit_one_clip_of_both_legs_is_closed():
    model, carry = carry_market(100_090.0, 100_110.0)
    carry.decide(0)
    carry.decide(0)
    assert legs(carry) == (-1_000, 1_000)  # two clips at 10 bp
    # Mid 100,000: premium 0 < 1 bp: one clip of each leg is closed per decision.
    requote_perp(model, 99_995.0, 100_005.0)
    carry.decide(0)
    assert legs(carry) == (-CLIP_LOTS, CLIP_LOTS)
    carry.decide(0)
    carry.decide(0)  # flat: nothing left to close
    assert legs(carry) == (0, 0)


def test_the_position_never_passes_the_capital_limit():
    # 120,000 USD at 100 USD a lot (100,000 x 0.001) is 1,200 lots: clips of 500, 500, then
    # the 200 lots of room left, then nothing.
    model, carry = carry_market(100_090.0, 100_110.0, max_position_notional=120_000.0)
    held = []
    for _ in range(5):
        carry.decide(0)
        held.append(legs(carry))
    assert held == [(-500, 500), (-1_000, 1_000), (-1_200, 1_200), (-1_200, 1_200),
                    (-1_200, 1_200)]
    # 1,200 lots x 0.001 BTC x 100,000 USD = 120,000 USD: at the limit, not past it.
    assert 1_200 * 0.001 * model.index == pytest.approx(120_000.0)


def test_with_full_bps_the_position_limit_grows_with_the_premium():
    # entry 5 bp, full 25 bp, capital 200,000 USD. At 10 bp the limit is 200,000 x (10 - 5)
    # / (25 - 5) = 50,000 USD = 500 lots: one clip, then nothing more at that premium.
    model, carry = carry_market(100_090.0, 100_110.0, max_position_notional=200_000.0,
                                full_bps=25.0)
    for _ in range(3):
        carry.decide(0)
    assert legs(carry) == (-500, 500)
    # Mid 100,200: premium 20 bp, limit 200,000 x 15 / 20 = 150,000 USD = 1,500 lots: two
    # more clips of 500, then the limit holds.
    requote_perp(model, 100_190.0, 100_210.0)
    for _ in range(4):
        carry.decide(0)
    assert legs(carry) == (-1_500, 1_500)
    # Mid 100,400: 40 bp, past full_bps: the whole 200,000 USD, 2,000 lots.
    requote_perp(model, 100_390.0, 100_410.0)
    for _ in range(3):
        carry.decide(0)
    assert legs(carry) == (-2_000, 2_000)


def test_full_bps_below_the_entry_is_refused():
    with pytest.raises(ValueError, match="full_bps"):
        CarryParams(count=1, entry_bps=5.0, full_bps=3.0)


def test_an_unfilled_hedge_is_closed_from_the_other_leg_at_the_next_decision():
    # The spot book offers 300 lots only: the perp leg sells 500 and the spot leg buys 300,
    # all the ask holds within 2 bp of the touch (100,005 x 1.0002 = 100,025).
    model, carry = carry_market(100_090.0, 100_110.0, spot_lots=300)
    carry.decide(0)
    assert legs(carry) == (-500, 300)
    # Next decision: the legs differ by 0.5 - 0.3 = 0.2 BTC, 200 lots: the perp leg buys them
    # back (at its ask, reduce-only), and that is the whole decision: no new clip although
    # the premium is still 10 bp.
    carry.decide(0)
    assert legs(carry) == (-300, 300)


def test_no_clip_is_opened_without_spot_to_hedge_with():
    # The spot ask is gone (300 lots quoted, 300 bought): the perp leg is not traded naked.
    model, carry = carry_market(100_090.0, 100_110.0, spot_lots=300)
    carry.decide(0)
    carry.decide(0)  # the repair: (-300, 300)
    carry.decide(0)
    assert model.spot.best_ask_ticks() is None
    assert legs(carry) == (-300, 300)


def test_decisions_are_drawn_from_the_crowds_own_stream_at_its_rate():
    # Premium 10 bp, so every decision sells a clip; 4 traders, 0.05 decisions a second.
    model, carry = carry_market(100_090.0, 100_110.0, count=4, rate_per_s=0.05,
                                max_position_notional=1e9)
    deciders = []
    carry.decide = deciders.append  # record who decides instead of trading
    for _ in range(400):
        carry.act()
    # The same draws from the stream "perp/carry": Poisson(0.05 x 1 s) decisions a step, each
    # by trader floor(4 u).
    draws = RandomBlocks(model.random_stream("perp/carry"))
    expected = [min(int(draws.uniform() * 4), 3)
                for _ in range(400) for _ in range(draws.arrivals(0.05))]
    assert deciders == expected
    assert 5 <= len(deciders) <= 40  # about 400 x 0.05 = 20


def test_carry_traders_need_a_spot_book():
    with pytest.raises(ValueError, match="carry traders hedge on a spot book"):
        CarryTraders(quiet_model(), CarryParams(count=1))


def test_the_exit_must_lie_inside_the_entry():
    with pytest.raises(ValueError, match="exit_bps must be below entry_bps"):
        CarryParams(entry_bps=2.0, exit_bps=2.0)


# ---------------------------------------------------------------- the scenario


def test_the_schema_rejects_carry_traders_with_an_exogenous_index_naming_the_key():
    with pytest.raises(ScenarioError, match="agents.carry.count: got 2: carry traders hedge on "
                                            "the spot book: agents.carry needs index.model: "
                                            "spot"):
        load_scenario("calm", {"index.model": "exogenous", "agents.carry.count": 2,
                               "index.spot.basket.venues": []})
    # With count 0 (the default) an exogenous index is fine.
    load_scenario("calm", {"index.model": "exogenous", "index.spot.basket.venues": []})


def test_the_crowd_is_built_last_under_its_kind_name():
    no_cohorts = {"agents.holders.count": 0, "agents.scalpers.count": 0,
                  "warm_start.history_s": 0}  # the cohorts come after the carry traders
    market = build_market(load_scenario("calm", {"duration_s": 60, "agents.carry.count": 3,
                                                 **no_cohorts}))
    (carry,) = market.agents["carry"]
    assert carry.unique_id == max(agent.unique_id for agent in market.model.agents)
    assert len(carry.perp_accounts) == len(carry.spot_accounts) == 3
    assert {market.model.owner_kind[carry.unique_id]} == {"carry"}


def test_with_count_0_a_calm_run_is_the_run_without_the_block():
    short = {"duration_s": 600}
    without = run("calm", overrides=short)
    # Count 0 with every other key changed: nothing is built, nothing moves.
    idle = {"count": 0, "rate_per_s": 5.0, "entry_bps": 0.5, "exit_bps": 0.1}
    with_block = run("calm", overrides={**short, "agents.carry": idle})
    assert "carry" not in with_block.manifest["agents"]
    for name in ("series", "trades", "liquidations", "funding", "accounts", "events"):
        pd.testing.assert_frame_equal(getattr(with_block, name), getattr(without, name))
