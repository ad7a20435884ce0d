"""Tests of the warm start (``agents.warm_start``) and the cohorts' market response.

Hand-built cases for the pairing of positions, the past path's arithmetic, and a small market
warm-started over a ladder maker, whose positions, stops and balance are checked one by one.
"""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from agents.params import HolderParams, RetailParams, ScalperParams
from agents.retail import OPEN, RetailCrowd
from agents.warm_start import (
    SECONDS_PER_YEAR,
    Trade,
    WarmPositions,
    match_trades,
    past_candles,
    past_path,
    warm_start,
)
from analysis.accuracy import estimated_map, pearson
from scenarios.runner import run
from scenarios.schema import ScenarioError, load_scenario
from sim.exchange import BUY, SELL
from sim.heatmap_estimate import PublicHeatmapObserver
from tests.market_builders import LadderMaker, quiet_model


def positions(first_account: int, sides, lots, entry_ticks, samples) -> WarmPositions:
    n = len(sides)
    return WarmPositions(SimpleNamespace(first_account=first_account), np.arange(n),
                         np.array(sides, dtype=np.int8), np.array(lots, dtype=np.int64),
                         np.array(entry_ticks, dtype=np.int64), np.array(samples, dtype=np.int64),
                         np.full(n, 60.0), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))


# ---------------------------------------------------------------------- the past path


def test_the_past_path_ends_at_the_price_now_with_steps_of_the_stated_volatility():
    # 10 days at 60 s: 14,400 steps of sd 0.8 * sqrt(60 / 31,536,000) = 0.0011035.
    path = past_path(np.random.default_rng(3), 100_000.0, 0.8, 10 * 86_400.0, 60.0)
    assert len(path) == 14_401
    assert path[-1] == 100_000.0
    steps = np.diff(np.log(path))
    expected = 0.8 * math.sqrt(60.0 / SECONDS_PER_YEAR)
    assert expected == pytest.approx(0.0011035, rel=1e-4)
    # The sample sd of 14,400 normal steps is within 3 % of the true one (its own sd: 0.6 %).
    assert steps.std() == pytest.approx(expected, rel=0.03)
    assert abs(steps.mean()) < 4 * expected / math.sqrt(14_400)


# ---------------------------------------------------------------------- pairing


def test_holders_take_the_other_side_of_every_crowd_position_at_its_own_price():
    # Crowd: a long of 3 lots at 1,000 ticks (sample 5), a short of 2 at 1,010 (sample 7).
    # Holders: a long of 5 (sample 1, 990 ticks), a short of 4 (sample 2, 995 ticks).
    # Holder shorts take the crowd's 3 long lots, holder longs its 2 short lots; left over,
    # longs 5 - 2 = 3 and shorts 4 - 3 = 1, so the holder long is trimmed by 2 to 3 lots and
    # its last lot trades against the holder short's at the long's price, 990.
    crowd = positions(100, [BUY, SELL], [3, 2], [1_000, 1_010], [5, 7])
    holders = positions(200, [BUY, SELL], [5, 4], [990, 995], [1, 2])
    kept, held, trades = match_trades([crowd], holders, np.random.default_rng(0))
    assert list(kept[0].lots) == [3, 2]
    assert list(held.lots) == [3, 4]
    got = sorted((t.at, t.buyer, t.seller, t.lots, t.price_ticks) for t in trades)
    assert got == [(1, 200, 201, 1, 990), (5, 100, 201, 3, 1_000), (7, 200, 101, 2, 1_010)]
    assert [t.at for t in trades] == [1, 5, 7]  # oldest first
    bought = sum(t.lots for t in trades)
    assert bought == 3 + 3 == 2 + 4  # longs 3 (crowd) + 3 (holders) = shorts 2 + 4


def test_crowd_positions_the_holders_cannot_absorb_are_left_out():
    # Holders short only 4 lots: of the crowd's longs of 3 and 3, one fits (3 <= 4, 6 > 4).
    # Left over: holder longs 2, holder shorts 4 - 3 = 1, so the long is trimmed to 1 and
    # trades its lot against the short's last one: 3 + 1 = 4 lots traded in all.
    crowd = positions(100, [BUY, BUY], [3, 3], [1_000, 1_001], [5, 6])
    holders = positions(200, [BUY, SELL], [2, 4], [990, 995], [1, 2])
    kept, held, trades = match_trades([crowd], holders, np.random.default_rng(1))
    assert list(kept[0].lots) == [3]
    assert list(held.side) == [BUY, SELL] and list(held.lots) == [1, 4]
    assert sum(t.lots for t in trades) == 4


def test_the_past_candles_print_the_path_and_the_warm_trades():
    # Path samples 30 s apart ending at t = 0: t = -90, -60, -30, 0 at 1,000, 1,010, 990,
    # 1,005 ticks (tick 1 USD). Trades: 3 lots at sample 1 (t = -60) bought by the crowd, 2
    # lots at sample 3 (t = 0) sold by it; a lot is 0.01 BTC.
    trades = [Trade(1, 10, 20, 3, 1_010, BUY), Trade(3, 21, 11, 2, 1_005, SELL)]
    bars = past_candles(np.array([1_000, 1_010, 990, 1_005]), trades, 0.0, 30.0, 1.0, 0.01)
    assert list(bars["t_close"]) == [-60.0, 0.0]
    # (-120, -60]: prints at 1,000 and 1,010, the buy of 0.03 BTC; open interest 0.03.
    first = bars.iloc[0]
    assert (first.open, first.high, first.low, first.close) == (1_000, 1_010, 1_000, 1_010)
    assert (first.volume, first.taker_buy_volume, first.oi) == pytest.approx((0.03, 0.03, 0.03))
    # (-60, 0]: prints at 990 and 1,005, the sale of 0.02; open interest 0.03 + 0.02 = 0.05.
    last = bars.iloc[1]
    assert (last.open, last.high, last.low, last.close) == (990, 1_005, 990, 1_005)
    assert (last.volume, last.taker_sell_volume, last.oi) == pytest.approx((0.02, 0.02, 0.05))


# ---------------------------------------------------------------------- a warm market


@pytest.fixture(scope="module")
def warm_market():
    """A quiet market with a ladder maker, 400 retail traders and 100 holders, warm-started
    over two days at 60 % volatility."""
    model = quiet_model(seed=7, volatility=0.6, tick_size=0.1)
    retail = RetailCrowd(model, RetailParams(count=400, arrival_rate_per_s=0.02,
                                             hold_time_s=7_200.0, stop_loss_prob=0.6))
    holders = RetailCrowd(model, HolderParams(count=100, hold_time_s=86_400.0,
                                              arrival_rate_per_s=100 / 86_400),
                          kind="holder")
    summary, past = warm_start(model, [retail], holders, 2 * 86_400.0, 0.6)
    LadderMaker(model)
    return model, retail, holders, summary, past


def test_a_warm_start_opens_balanced_positions_before_the_first_step(warm_market):
    model, retail, holders, summary, _ = warm_market
    ex = model.perp
    assert summary["positions"] > 0
    # A trade the exchange refuses (a holder short of margin at a crowd position's price) is
    # left out whole, both sides: rare, and the books still balance below.
    assert summary["failed_trades"] <= 0.02 * summary["trades"]
    longs = shorts = 0
    for crowd in (retail, holders):
        pos = ex.positions_lots(crowd.first_account + np.arange(crowd.count))
        longs += int(pos[pos > 0].sum())
        shorts += int(-pos[pos < 0].sum())
        is_open = crowd.status == OPEN
        # Every open trader holds a position on its side; every other one holds none.
        assert (np.sign(pos[is_open]) == crowd.side[is_open]).all()
        assert (pos[~is_open] == 0).all()
        # The idle pool holds exactly the traders not in a position.
        assert sorted(crowd.idle_pool[: crowd.n_idle]) == list(np.flatnonzero(~is_open))
        # Entered in the past, leaving in the future.
        assert (crowd.entry_t[is_open] <= 0).all() and (crowd.exit_t[is_open] > 0).all()
    assert longs == shorts == ex.open_interest > 0
    assert summary["open_interest_usd"] == pytest.approx(longs * ex.config.lot_size * 100_000.0)
    # Steady state: about rate x hold = 0.02 x 7,200 = 144 retail positions before survival.
    assert 40 <= int((retail.status == OPEN).sum()) <= 144 + 5 * 12
    assert ex.drain_fills().size == 0  # the warm trades are not the run's


def test_warm_stops_rest_beyond_the_price_now_on_the_losing_side(warm_market):
    model, retail, _, _, _ = warm_market
    now = model.perp.to_ticks(100_000.0)
    has_stop = retail.stop_order > 0
    assert has_stop.sum() > 10
    sides = retail.side[has_stop]
    stops = retail.stop_ticks[has_stop]
    # A long's stop is under the price now, a short's above: the path has not crossed them.
    assert ((sides == BUY) & (stops < now) | (sides == SELL) & (stops > now)).all()


def test_a_warm_run_starts_with_open_interest_and_its_invariants_hold():
    sc = load_scenario("calm", {"duration_s": 120, "agents.retail.count": 300,
                                "agents.holders.count": 100, "agents.scalpers.count": 50})
    result = run(sc)
    warm = result.manifest["warm_start"]
    assert warm["positions"] > 0
    assert result.series["oi_notional"].iloc[0] == pytest.approx(
        warm["open_interest_usd"], rel=0.05)  # the first second changes little
    assert result.manifest["invariants"]["all_passed"]
    # The warm trades are not the run's: the first second's volume is not theirs.
    assert result.trades["t"].min() >= 1.0
    assert result.series["volume"].iloc[0] * 100_000.0 < 0.05 * warm["open_interest_usd"]


def test_the_past_candles_end_at_the_open_interest_the_warm_start_opened(warm_market):
    model, _, _, summary, past = warm_market
    lot = model.perp.config.lot_size
    # Samples from t = -172,800 to 0: the first closes the interval ending at -172,800, then
    # 172,800 / 60 = 2,880 more.
    assert past["t_close"].iloc[-1] == 0.0 and len(past) == 1 + 2 * 86_400 // 60
    # Every warm trade opens a position on both sides: volume and open interest agree.
    assert past["oi"].iloc[-1] == pytest.approx(model.perp.open_interest * lot)
    assert past["volume"].sum() == pytest.approx(past["oi"].iloc[-1])


def test_a_public_map_that_watched_the_past_holds_levels_opened_along_it(warm_market):
    _, _, _, _, past = warm_market
    observer = PublicHeatmapObserver(60.0)
    observer.add_past(past)
    levels = observer.estimator.levels()
    assert observer.n_candles == len(past) and observer.estimator.oi == past["oi"].iloc[-1]
    # Levels were opened over the two days at the prices of their minutes, not all at once.
    assert levels["t_created"].min() < -86_400.0 and levels["t_created"].max() <= 0.0
    assert levels["entry_price"].nunique() > 100


def test_the_public_estimate_with_the_past_tracks_the_true_map_better_than_without():
    sc = load_scenario("calm", {"duration_s": 600, "agents.retail.count": 300,
                                "agents.holders.count": 100, "agents.scalpers.count": 50})
    result = run(sc)
    true = result.heatmap
    warm = estimated_map(result)
    # Without the past, the whole warm open interest appears in the first minute, opened at
    # its price: levels in the wrong places (seed 0 of this scenario: correlation about 0).
    cold = estimated_map(replace(result, warm_candles=result.warm_candles.iloc[:0]))

    def corr(estimate: dict) -> float:
        return pearson(np.r_[true["long"][0], true["short"][0]],
                       np.r_[estimate["long"][0], estimate["short"][0]])

    assert corr(warm) > corr(cold) + 0.02


def test_a_warm_start_without_holders_is_refused_naming_the_key():
    with pytest.raises(ScenarioError, match="warm_start.history_s"):
        load_scenario("calm", {"agents.holders.count": 0})


# ---------------------------------------------------------------------- market response


def deterrence(rate: float, aversion: float, side: int) -> float:
    crowd = SimpleNamespace(exchange=SimpleNamespace(predicted_funding_rate=rate),
                            params=SimpleNamespace(funding_aversion=aversion))
    return RetailCrowd._funding_deterrence(crowd, side)


def test_funding_keeps_out_the_side_that_pays():
    # Longs: 0.5 x (0.0002 - 0.0001) / 0.0001 = 0.5; at 0.0004, 0.5 x 3 = 1.5 -> all of them.
    assert deterrence(0.0002, 0.5, BUY) == pytest.approx(0.5)
    assert deterrence(0.0004, 0.5, BUY) == 1.0
    assert deterrence(0.0001, 0.5, BUY) == 0.0  # the baseline deters nobody
    assert deterrence(0.0004, 0.5, SELL) == 0.0  # shorts are paid
    # Shorts pay a negative rate: 0.5 x 0.0001 / 0.0001 = 0.5.
    assert deterrence(-0.0001, 0.5, SELL) == pytest.approx(0.5)
    assert deterrence(-0.0001, 0.5, BUY) == 0.0


def test_arrivals_follow_the_charts_volatility_within_their_bounds():
    model = quiet_model(seed=2)
    crowd = RetailCrowd(model, ScalperParams(count=10, vol_elasticity=1.0, vol_recent_s=60.0,
                                             vol_slow_s=600.0, history_sample_s=1.0))
    # Alternating moves of 10 ticks everywhere: recent and slow volatility are equal -> 1.
    calm = 1_000_000 + 10 * (np.arange(601) % 2)
    crowd.history.seed(calm)
    assert crowd._volatility_multiple(0.0) == pytest.approx(1.0, abs=0.02)
    # Within the minute the multiple is not reread.
    crowd.history.seed(np.full(601, 1_000_000))
    assert crowd._volatility_multiple(30.0) == pytest.approx(1.0, abs=0.02)
    # Moves 100 times larger in the last minute (61 samples): those 60 moves of 1e-3 dominate
    # the slow window's variance, 60 / 600 x 1e-6, so the ratio is 1e-3 / sqrt(1e-7) =
    # sqrt(10) = 3.16.
    wild = calm.copy()
    wild[-61:] = 1_000_000 + 1_000 * (np.arange(61) % 2)
    crowd.history.seed(wild)
    assert crowd._volatility_multiple(60.0) == pytest.approx(math.sqrt(10), rel=0.02)
    # A flat last minute after the moves: 0 -> the floor, 1/5.
    flat_end = 1_000_000 + 1_000 * (np.arange(601) % 2)
    flat_end[-61:] = 1_000_000
    crowd.history.seed(flat_end)
    assert crowd._volatility_multiple(120.0) == 0.2
    # A recent window of 6 s (the last 6 moves large): sqrt(600 / 6) = 10 -> capped at 5.
    quick = RetailCrowd(model, ScalperParams(count=10, vol_elasticity=1.0, vol_recent_s=6.0,
                                             vol_slow_s=600.0, history_sample_s=1.0),
                        kind="scalper")
    burst = calm.copy()
    burst[-7:] = 1_000_000 + 1_000 * (np.arange(7) % 2)
    quick.history.seed(burst)
    assert quick._volatility_multiple(0.0) == 5.0


def test_wild_charts_close_open_positions_early_at_the_stated_rate():
    # 100,000 traders, a mean hold of 1,000 s, ratio 4 with elasticity 1: the extra rate is
    # (4 - 1) / 1,000 per open position per second, so one step draws Poisson(100,000 x 3 /
    # 1,000) = Poisson(300) candidates, of which the open half (every even trader) close:
    # about 150, sd about 12.
    model = quiet_model(seed=4)
    crowd = RetailCrowd(model, RetailParams(count=100_000, hold_time_s=1_000.0,
                                            vol_exit_elasticity=1.0))
    crowd.status[::2] = OPEN
    closed_ids = []

    def close(i, t):
        closed_ids.append(i)
        crowd.status[i] = 0
        return True

    crowd._close = close
    crowd._vol_ratio, crowd._vol_next_t = 4.0, math.inf  # held for the test
    n = crowd._nervous_exits(0.0)
    assert n == len(closed_ids) == crowd.stats.nervous_exits
    assert 100 <= n <= 200
    assert all(i % 2 == 0 for i in closed_ids)  # only open positions close
    crowd._vol_ratio = 0.8  # a calmer chart than usual: no early exits
    assert crowd._nervous_exits(1.0) == 0


def test_the_volatility_multiple_scales_the_baseline_not_the_excitation():
    # Base rate 1/s, branching 0.5: baseline mu = 0.5; after 10 own events with decay 100 s
    # the excess is 0.5 x 10 / 100 = 0.05. A multiple of 3: 3 x 0.5 + 0.05 = 1.55 (not
    # 3 x 0.55 = 1.65); the cap is 20 x 1 = 20.
    from agents.excitation import Excitation
    from agents.params import ExcitationParams
    ex = Excitation(1.0, ExcitationParams(branching=0.5, decay_s=100.0), 1.0)
    ex.update(10, 0.0, 0.0)
    assert ex.excess == pytest.approx(0.05)
    assert ex.rate_with_baseline(3.0) == pytest.approx(1.55)
    assert ex.rate_with_baseline(100.0) == 20.0
