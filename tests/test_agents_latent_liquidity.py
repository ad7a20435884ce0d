"""The latent-liquidity provider: its depth profile, slow centre, refill and stress pullback.

Every market here is a quiet perpetual at 100,000 USD (tick 0.1 USD, lot 0.001 BTC) with no
other agent, one step a second; the provider is the whole book unless a test adds quotes.
"""

from __future__ import annotations

from agents.latent_liquidity import LatentLiquidity, depth_exponent
from agents.params import LatentLiquidityParams
from scenarios.runner import build_market
from scenarios.schema import load_scenario
from sim.exchange import BUY, LIMIT, MARKET, SELL, Status
from tests.market_builders import quiet_model

# Two levels, at 10 and 100 bp: D(10) = 0.2 * 10 M = 2 M USD, the second level 8 M.
TWO_LEVELS = {"min_offset_bps": 10.0, "max_offset_bps": 100.0, "levels": 2,
              "depth_notional": 10_000_000.0, "wallet": 1e9, "reference_half_life_s": 3600.0}


def _provider(**params) -> tuple:
    model = quiet_model()
    agent = LatentLiquidity(model, LatentLiquidityParams(count=1, **params))
    return model, agent


def _notional_within(agent: LatentLiquidity, side: int, bps: float) -> float:
    tick = agent.exchange.config.tick_size
    lot = agent.exchange.config.lot_size
    total = 0.0
    for price, lots in agent.level_lots(side):
        if lots and abs(price * tick / agent.centre - 1.0) <= bps * 1e-4 + tick / agent.centre:
            total += lots * lot * price * tick
    return total


def test_depth_within_10bp_is_a_fifth_of_depth_within_100bp():
    # Levels at 10 ** (k / 4) bp for k = 0..12: 1, 1.78, ..., 10 (k = 4), ..., 100 (k = 8),
    # ..., 1000 bp. beta = ln 0.2 / ln 0.1 = 0.699, D(x) = 10 M * (x / 1000) ** beta:
    # D(10) = 10 M * 0.01 ** 0.699 = 0.400 M, D(100) = 10 M * 0.1 ** 0.699 = 2.0 M.
    model, agent = _provider(min_offset_bps=1.0, max_offset_bps=1000.0, levels=13,
                             depth_notional=10_000_000.0, wallet=1e9)
    assert abs(depth_exponent(0.2) - 0.69897) < 1e-5
    model.step()
    for side in (BUY, SELL):
        near, far = _notional_within(agent, side, 10), _notional_within(agent, side, 100)
        total = _notional_within(agent, side, 1000)
        # Each of the 13 levels is floored to whole lots: under 100 USD (1 lot) each.
        assert abs(near - 400_000) < 500 and abs(far - 2_000_000) < 1500
        assert abs(near / far - 0.2) < 1e-3
        assert 10_000_000 - 1300 < total <= 10_000_000


def test_centre_follows_the_mid_with_the_half_life():
    # Levels at 200 and 300 bp leave room for a quote at 100,990 / 101,010 (mid 101,000).
    model, agent = _provider(min_offset_bps=200.0, max_offset_bps=300.0, levels=2,
                             reference_half_life_s=60.0, wallet=1e9)
    model.step()
    assert agent.centre == 100_000.0  # the first step: the index, the book being empty
    ex = model.perp
    account = int(ex.open_accounts(1, 1e8, 10.0)[0])
    ex.submit(account, BUY, LIMIT, 10, ex.to_ticks(100_990.0))
    ex.submit(account, SELL, LIMIT, 10, ex.to_ticks(101_010.0))
    model.step()
    # a = 1 - 2 ** (-1 / 60) = 0.0114859; centre = 100,000 + a * 1,000 = 100,011.4859.
    assert abs(agent.centre - 100_011.4859) < 1e-3


def test_a_taken_level_is_refilled_at_the_refill_rate():
    # The 10 bp bid rests at 99,900: 2 M USD / 99,900 / 0.001 = 20,020.02 -> 20,020 lots.
    # Taking it moves the mid (the provider is the whole book) by 45 bp: no stress here.
    model, agent = _provider(refill_s=4.0, stress_vol_bps=5000.0, **TWO_LEVELS)
    model.step()
    assert agent.level_lots(BUY)[0] == (999_000, 20_020)
    ex = model.perp
    taker = int(ex.open_accounts(1, 1e9, 10.0)[0])
    assert ex.submit(taker, SELL, MARKET, 20_020).status is Status.OK
    assert agent.level_lots(BUY)[0][1] == 0
    # A quarter of the missing lots a step, rounded up (step 1 s / refill 4 s):
    # 20,020 / 4 = 5,005; (20,020 - 5,005) / 4 = 3,753.75 -> 3,754 (8,759);
    # (20,020 - 8,759) / 4 = 2,815.25 -> 2,816 (11,575).
    seen = []
    for _ in range(3):
        model.step()
        seen.append(agent.level_lots(BUY)[0][1])
    assert seen == [5_005, 8_759, 11_575]


def test_stress_pulls_the_nearest_levels_and_calm_brings_them_back():
    # Pullback 0.5: the 10 bp level holds D(10) = 0.2 of the depth (<= 0.5) and is pulled;
    # the 100 bp level (cumulative 1.0) stays.
    model, agent = _provider(refill_s=4.0, stress_window_s=10.0, stress_vol_bps=10.0,
                             stress_pullback=0.5, **TWO_LEVELS)
    model.step()
    ex = model.perp
    account = int(ex.open_accounts(1, 1e8, 10.0)[0])
    far_before = agent.level_lots(BUY)[1]
    orders = []
    # The mid alternates 100,000 and 100,050: returns of 5 bp a second, a realized vol of
    # 5 * sqrt(60) = 38.7 bp per sqrt(minute), over the 10 bp threshold.
    for k in range(6):
        for oid in orders:
            ex.cancel(account, oid)
        centre = 100_000.0 + 50.0 * (k % 2)
        orders = [ex.submit(account, BUY, LIMIT, 1, ex.to_ticks(centre - 1.0)).order_id,
                  ex.submit(account, SELL, LIMIT, 1, ex.to_ticks(centre + 1.0)).order_id]
        model.step()
    assert agent.stressed
    assert agent.level_lots(BUY)[0] == (0, 0) and agent.level_lots(SELL)[0] == (0, 0)
    assert agent.level_lots(BUY)[1] == far_before
    # Quotes stay put: after the 10-step window holds only zero returns, calm again, and the
    # near bid comes back a quarter at a time: 20,020 / 4 = 5,005 lots on the first calm step.
    for _ in range(20):
        model.step()
        if not agent.stressed:
            break
    assert not agent.stressed
    # (The centre crept up by about a tick with the moved mid: 99,900.1 USD holds 20,019 lots,
    # a quarter of which rounds up to 5,005 as well.)
    price, lots = agent.level_lots(BUY)[0]
    assert abs(price - 999_000) <= 2 and lots == 5_005


def test_count_zero_adds_no_agent_and_moves_no_id():
    def ids(market):
        return {kind: [a.unique_id for a in group] for kind, group in market.agents.items()}

    # calm on the pinned market: no spot agent is created after the perp's latent book.
    # The cohorts come after the latent book: left out so that no agent follows it.
    pinned = {"duration_s": 600, "index.spot.basket.venues": [],
              "index.spot.latent_liquidity.count": 0, "index.spot.informed.count": 0,
              "agents.holders.count": 0, "agents.scalpers.count": 0, "warm_start.history_s": 0}
    base = build_market(load_scenario("calm", pinned))
    assert "latent_liquidity" not in base.agents
    more = build_market(load_scenario("calm", {**pinned, "agents.latent_liquidity.count": 1}))
    assert len(more.agents.pop("latent_liquidity")) == 1
    assert ids(more) == ids(base)


def test_a_provider_that_has_bought_leans_its_ladder_down():
    # Skew 10 bp per million USD held. The first step builds the ladder on 100,000; a taker
    # then sells into the 10 bp bid (20,020 lots at 99,900): the provider is long 20.02 BTC.
    model, agent = _provider(inventory_skew_bps_per_musd=10.0, stress_vol_bps=5000.0,
                             **TWO_LEVELS)
    model.step()
    ex = model.perp
    taker = int(ex.open_accounts(1, 1e9, 10.0)[0])
    assert ex.submit(taker, SELL, MARKET, 20_020).status is Status.OK
    model.step()
    # The mid is (99,000 + 100,100) / 2 = 99,550; a = 1 - 2 ** (-1 / 3600) = 1.9252e-4, so
    # c = 100,000 - a * 450 = 99,999.9134. Held: 20.02 BTC * 99,550 = 1.992991 M USD, a lean
    # of exp(-10e-4 * 1.992991) = 0.9980090: the ladder's centre is 99,800.81 and the 10 bp
    # ask moves from 100,100 to 99,800.81 * 1.001 = 99,900.61, rounded up to 99,900.7.
    assert agent.level_lots(SELL)[0][0] == 999_007
    # Without a skew the ask stays where it was (the centre moved 0.09 USD, inside 2 bp).
    model, plain = _provider(stress_vol_bps=5000.0, **TWO_LEVELS)
    model.step()
    taker = int(model.perp.open_accounts(1, 1e9, 10.0)[0])
    model.perp.submit(taker, SELL, MARKET, 20_020)
    model.step()
    assert plain.level_lots(SELL)[0][0] == 1_001_000
