"""The public heatmap estimate on hand-built candles, against hand-computed levels.

Tiers are BTCUSDT's (sim.exchange.perp): tier 0 below 50k USD (MMR 0.4 %, cum 0), tier 1 from 50k to
250k (MMR 0.5 %, cum 50). Isolated liquidation prices:
long  LP = (Q·EP − WB − cum) / (Q·(1 − MMR)),  short LP = (Q·EP + WB + cum) / (Q·(1 + MMR)),
with WB = Q·EP / L (the slice's margin at leverage L).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim.exchange.layouts import FILL_DTYPE
from sim.heatmap_estimate import HeatmapEstimator, PublicHeatmapObserver, estimate_heatmap

# Candle 1: typical (100,100 + 99,900 + 100,000) / 3 = 100,000; taker-buy share 12/20 = 0.6;
# ΔOI = 10 BTC from 0 -> new notional 10 × 100,000 = 1,000,000 USD: 600k long, 400k short.
# Default mix {5: .15, 10: .30, 25: .25, 50: .20, 100: .10}:
#   long  slices 90k, 180k, 150k, 120k, 60k; short slices 60k, 120k, 100k, 80k, 40k.
CANDLE_1 = {"t_close": 60.0, "high": 100_100.0, "low": 99_900.0, "close": 100_000.0,
            "volume": 20.0, "taker_buy_volume": 12.0, "oi": 10.0}

# Each slice's level. The tier is the one holding LP·Q; the tier-0 candidates of all but the
# 40k short slice land above 50k notional (e.g. long 10x: 162,000/1.7928 = 90,361 -> LP·Q =
# 162,650 >= 50k), so they take tier 1.
EXPECTED_LEVELS_1 = {
    # (side, leverage): (notional USD, liquidation price)
    (1, 5): (90_000.0, (90_000 - 18_000 - 50) / (0.9 * 0.995)),      # 80,346.18
    (1, 10): (180_000.0, (180_000 - 18_000 - 50) / (1.8 * 0.995)),   # 90,424.34
    (1, 25): (150_000.0, (150_000 - 6_000 - 50) / (1.5 * 0.995)),    # 96,448.91
    (1, 50): (120_000.0, (120_000 - 2_400 - 50) / (1.2 * 0.995)),    # 98,450.59
    (1, 100): (60_000.0, (60_000 - 600 - 50) / (0.6 * 0.995)),       # 99,413.74
    (-1, 5): (60_000.0, (60_000 + 12_000 + 50) / (0.6 * 1.005)),     # 119,485.90
    (-1, 10): (120_000.0, (120_000 + 12_000 + 50) / (1.2 * 1.005)),  # 109,494.20
    (-1, 25): (100_000.0, (100_000 + 4_000 + 50) / (1.0 * 1.005)),   # 103,532.34
    (-1, 50): (80_000.0, (80_000 + 1_600 + 50) / (0.8 * 1.005)),     # 101,554.73
    # 40k short at 100x: tier 0, LP = 40,400 / 0.4016 = 100,597.61 (LP·Q = 40,239 < 50k).
    (-1, 100): (40_000.0, (40_000 + 400) / (0.4 * 1.004)),
}


def _levels(est: HeatmapEstimator) -> dict[tuple[int, int], tuple[float, float]]:
    lv = est.levels()
    return {(int(s), int(lev)): (n, p) for s, lev, n, p in
            zip(lv["side"], lv["leverage"], lv["notional_usd"], lv["price"], strict=True)}


def _assert_levels(got, expected):
    assert set(got) == set(expected)
    for key, (notional, price) in expected.items():
        assert got[key][0] == pytest.approx(notional, rel=1e-12), key
        assert got[key][1] == pytest.approx(price, rel=1e-12), key


def test_new_oi_becomes_levels_by_the_exact_tier_formula():
    est = HeatmapEstimator()
    est.add_candle(CANDLE_1)
    _assert_levels(_levels(est), EXPECTED_LEVELS_1)
    assert est.levels()["entry_price"].tolist() == [100_000.0] * 10
    assert est.oi == 10.0


def test_a_level_is_removed_when_a_later_candle_trades_through_it():
    est = HeatmapEstimator()
    est.add_candle(CANDLE_1)
    # Candle 2: low 99,000 <= the long 100x level (99,413.74) -> removed; the long 50x level
    # (98,450.59) is below the low and stays; high 100,200 < the short 100x level (100,597.61).
    # ΔOI = 0: nothing is added or reduced.
    est.add_candle({"t_close": 120.0, "high": 100_200.0, "low": 99_000.0, "close": 99_500.0,
                    "volume": 5.0, "taker_buy_volume": 2.0, "oi": 10.0})
    expected = {k: v for k, v in EXPECTED_LEVELS_1.items() if k != (1, 100)}
    _assert_levels(_levels(est), expected)
    # Candle 3: high 100,700 >= 100,597.61 -> the short 100x level goes too.
    est.add_candle({"t_close": 180.0, "high": 100_700.0, "low": 100_100.0, "close": 100_400.0,
                    "volume": 5.0, "taker_buy_volume": 2.0, "oi": 10.0})
    del expected[(-1, 100)]
    _assert_levels(_levels(est), expected)


def test_levels_are_not_tested_against_the_candle_that_made_them():
    est = HeatmapEstimator()
    # The candle's own low (90,000) lies below its new long 10x level (90,424): it stays.
    est.add_candle({**CANDLE_1, "low": 90_000.0, "close": 110_000.0})
    assert len(est.levels()) == 10


def test_falling_oi_reduces_every_level_pro_rata():
    est = HeatmapEstimator()
    est.add_candle(CANDLE_1)
    # OI 10 -> 8: every level keeps 1 − |−2| / 10 = 0.8 of its notional; prices unchanged.
    est.add_candle({"t_close": 120.0, "high": 100_050.0, "low": 99_950.0, "close": 100_000.0,
                    "volume": 4.0, "taker_buy_volume": 1.0, "oi": 8.0})
    expected = {k: (0.8 * n, p) for k, (n, p) in EXPECTED_LEVELS_1.items()}
    _assert_levels(_levels(est), expected)
    assert est.levels()["notional_usd"].sum() == pytest.approx(800_000.0)  # 0.8 × 1,000,000
    # OI 8 -> 0 clears the map.
    est.add_candle({"t_close": 180.0, "high": 100_050.0, "low": 99_950.0, "close": 100_000.0,
                    "volume": 4.0, "taker_buy_volume": 1.0, "oi": 0.0})
    assert len(est.levels()) == 0


def test_all_taker_selling_opens_shorts_only():
    est = HeatmapEstimator()
    # Typical (100,700 + 100,100 + 100,400) / 3 = 100,400; ΔOI = 2 -> 200,800 USD, share 0:
    # all short; short 10x slice = 0.3 × 200,800 = 60,240.
    est.add_candle({"t_close": 60.0, "high": 100_700.0, "low": 100_100.0, "close": 100_400.0,
                    "volume": 10.0, "taker_buy_volume": 0.0, "oi": 2.0})
    lv = est.levels()
    assert (lv["side"] == -1).all() and len(lv) == 5
    assert lv["notional_usd"].sum() == pytest.approx(200_800.0)
    short10 = lv[lv["leverage"] == 10].iloc[0]
    assert short10["notional_usd"] == pytest.approx(60_240.0)
    # Q = 0.6 BTC, WB = 6,024; tier 1 (LP·Q about 66k): (60,240 + 6,024 + 50) / (0.6 × 1.005).
    assert short10["price"] == pytest.approx((60_240 + 6_024 + 50) / (0.6 * 1.005), rel=1e-12)


def test_naive_levels_are_entry_times_one_minus_or_plus_one_over_leverage():
    est = HeatmapEstimator(naive=True)
    est.add_candle(CANDLE_1)
    got = _levels(est)
    # 100,000 × (1 − 1/10) = 90,000; × (1 − 1/100) = 99,000; × (1 + 1/5) = 120,000; ...
    assert got[(1, 10)][1] == pytest.approx(90_000.0)
    assert got[(1, 100)][1] == pytest.approx(99_000.0)
    assert got[(-1, 5)][1] == pytest.approx(120_000.0)
    assert got[(-1, 50)][1] == pytest.approx(102_000.0)
    assert got[(1, 10)][0] == pytest.approx(180_000.0)  # notionals as with the tier formula


def test_a_representative_position_size_picks_the_tier():
    est = HeatmapEstimator(position_usd=10_000.0)
    est.add_candle(CANDLE_1)
    got = _levels(est)
    # A 10k position at 10x: Q = 0.1, WB = 1,000, tier 0: (10,000 − 1,000) / (0.1 × 0.996)
    # = 90,361.45 — not the 180k slice's tier-1 level 90,424.34; the notional stays 180k.
    assert got[(1, 10)] == pytest.approx((180_000.0, 9_000 / (0.1 * 0.996)), rel=1e-12)


def test_unknown_initial_oi_takes_the_first_candle_as_baseline():
    est = HeatmapEstimator(initial_oi=None)
    est.add_candle(CANDLE_1)  # OI 10 of unknown origin: no levels
    assert len(est.levels()) == 0
    # Next candle: ΔOI = 11 − 10 = 1 BTC at typical 100,000 with share 0.6 -> 60k long.
    est.add_candle({**CANDLE_1, "t_close": 120.0, "oi": 11.0})
    lv = est.levels()
    assert lv.loc[lv["side"] > 0, "notional_usd"].sum() == pytest.approx(60_000.0)
    assert lv.loc[lv["side"] < 0, "notional_usd"].sum() == pytest.approx(40_000.0)


def test_without_volume_new_oi_is_split_evenly():
    est = HeatmapEstimator()
    est.add_candle({**CANDLE_1, "volume": 0.0, "taker_buy_volume": 0.0})
    lv = est.levels()
    assert lv.loc[lv["side"] > 0, "notional_usd"].sum() == pytest.approx(500_000.0)


def test_map_bins_levels_and_estimate_heatmap_samples_at_the_given_times():
    edges = np.arange(80_000.0, 121_000.0, 1_000.0)  # 40 bins of 1,000 USD
    est = HeatmapEstimator()
    est.add_candle(CANDLE_1)
    long_usd, short_usd = est.map(edges)
    # long 10x at 90,424 -> bin [90,000, 91,000) = index 10; long 5x at 80,346 -> index 0.
    assert long_usd[10] == pytest.approx(180_000.0) and long_usd[0] == pytest.approx(90_000.0)
    assert long_usd.sum() == pytest.approx(600_000.0)
    # short 5x at 119,486 -> index 39; short 100x at 100,598 -> index 20.
    assert short_usd[39] == pytest.approx(60_000.0) and short_usd[20] == pytest.approx(40_000.0)
    assert short_usd.sum() == pytest.approx(400_000.0)

    candle_2 = {"t_close": 120.0, "high": 100_200.0, "low": 99_000.0, "close": 99_500.0,
                "volume": 5.0, "taker_buy_volume": 2.0, "oi": 10.0}
    bars = pd.DataFrame([CANDLE_1, candle_2])
    times = np.array([120.0, 30.0, 60.0])  # any order; t=30 is before the first close
    long_t, short_t = estimate_heatmap(bars, edges, times)
    assert long_t.shape == (3, 40) and short_t.shape == (3, 40)
    assert long_t[1].sum() == 0.0 and short_t[1].sum() == 0.0
    np.testing.assert_allclose(long_t[2], long_usd)
    np.testing.assert_allclose(short_t[2], short_usd)
    # At t=120 the long 100x level (99,413.74, bin 19, 60k) was traded through by candle 2.
    assert long_t[2][19] == pytest.approx(60_000.0) and long_t[0][19] == 0.0
    assert long_t[0].sum() == pytest.approx(540_000.0)


def test_estimate_heatmap_names_missing_columns():
    bars = pd.DataFrame([CANDLE_1]).drop(columns=["taker_buy_volume"])
    with pytest.raises(ValueError, match="taker_buy_volume"):
        estimate_heatmap(bars, np.arange(90_000.0, 110_000.0, 100.0), np.array([60.0]))


def test_leverage_mix_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        HeatmapEstimator(leverage_mix={10: 0.5, 20: 0.4})


def test_the_observer_turns_a_models_fills_into_levels_once_a_candle_completes():
    tick, lot = 0.1, 0.001
    perp = SimpleNamespace(config=SimpleNamespace(tick_size=tick, lot_size=lot), open_interest=0)
    model = SimpleNamespace(t=0.0, fills=np.zeros(0, FILL_DTYPE), perp=perp)
    observer = PublicHeatmapObserver(60.0)
    buy = np.zeros(1, FILL_DTYPE)
    buy["price"], buy["qty"], buy["taker_side"] = 1_000_000, 10_000, 1  # 100,000 USD, 10 BTC
    for t in range(1, 61):
        model.t = float(t)
        model.fills = buy if t == 30 else np.zeros(0, FILL_DTYPE)
        perp.open_interest = 10_000 if t >= 30 else 0
        observer(model)
        if t == 59:
            assert observer.n_candles == 0  # (0, 60] is not over yet
    assert observer.n_candles == 1
    # One buy: share 1, typical 100,000, ΔOI 10 BTC -> 1,000,000 USD, all long.
    lv = observer.estimator.levels()
    assert (lv["side"] == 1).all()
    assert lv["notional_usd"].sum() == pytest.approx(1_000_000.0)
    long_usd, short_usd = observer.map(np.arange(80_000.0, 121_000.0, 1_000.0))
    assert long_usd.sum() == pytest.approx(1_000_000.0) and short_usd.sum() == 0.0
