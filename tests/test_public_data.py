"""Candles from a hand-made trades table, and the online CandleFeed that must agree with them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.public_data import CANDLE_COLUMNS, CandleFeed, candles


def _trades() -> pd.DataFrame:
    # Interval 0 is (0, 60], 1 is (60, 120], 2 is (120, 180] (no trade), 3 is (180, 240].
    return pd.DataFrame({
        "t": [5.0, 30.0, 60.0, 61.0, 200.0],
        "price": [100.0, 103.0, 99.0, 101.0, 104.0],
        "qty": [1.0, 2.0, 0.5, 1.0, 3.0],
        "aggressor_side": [1, -1, 1, -1, 1],
    })


def _series() -> pd.DataFrame:
    return pd.DataFrame({"t": [20.0, 60.0, 90.0, 150.0, 200.0],
                         "oi": [1.0, 2.0, 3.0, 4.0, 5.0]})


def test_candles_from_hand_made_trades():
    c = candles(_trades(), _series(), interval_s=60.0)
    assert list(c.columns) == list(CANDLE_COLUMNS)
    assert c["t_open"].tolist() == [0.0, 60.0, 120.0, 180.0]
    assert c["t_close"].tolist() == [60.0, 120.0, 180.0, 240.0]
    # Interval 0: trades at 5, 30 and 60 (the close is inclusive): 100, 103, 99.
    assert c.loc[0, ["open", "high", "low", "close"]].tolist() == [100.0, 103.0, 99.0, 99.0]
    assert c.loc[0, "volume"] == pytest.approx(3.5)            # 1 + 2 + 0.5
    assert c.loc[0, "taker_buy_volume"] == pytest.approx(1.5)  # 1 + 0.5
    assert c.loc[0, "taker_sell_volume"] == pytest.approx(2.0)
    assert c.loc[0, "typical"] == pytest.approx((103 + 99 + 99) / 3)  # 100.333...
    # Interval 1: one sell at 101.
    assert c.loc[1, ["open", "high", "low", "close", "volume", "taker_buy_volume"]].tolist() == [
        101.0, 101.0, 101.0, 101.0, 1.0, 0.0]
    # Interval 2 is empty: it carries the previous close, with zero volume.
    assert c.loc[2, ["open", "high", "low", "close", "volume"]].tolist() == [
        101.0, 101.0, 101.0, 101.0, 0.0]
    assert c.loc[2, "typical"] == pytest.approx(101.0)
    # OI at each close is the last series value at or before it: t=60 -> 2, t=90 -> 3,
    # t=150 -> 4, t=200 -> 5.
    assert c["oi"].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert c.loc[3, ["open", "close", "volume", "taker_buy_volume"]].tolist() == [
        104.0, 104.0, 3.0, 3.0]


def test_intervals_before_the_first_trade_have_no_price():
    trades = pd.DataFrame({"t": [130.0], "price": [50.0], "qty": [1.0], "aggressor_side": [-1]})
    series = pd.DataFrame({"t": [10.0], "oi": [0.0]})
    c = candles(trades, series, interval_s=60.0)
    # Intervals (0, 60], (60, 120], (120, 180]: no close to carry into the first two.
    assert c["t_close"].tolist() == [60.0, 120.0, 180.0]
    assert np.isnan(c.loc[0, "close"]) and np.isnan(c.loc[1, "high"])
    assert c.loc[2, "close"] == 50.0
    assert c["volume"].tolist() == [0.0, 0.0, 1.0]
    assert c["oi"].tolist() == [0.0, 0.0, 0.0]


def test_oi_is_unknown_before_the_first_series_value():
    trades = pd.DataFrame({"t": [70.0], "price": [50.0], "qty": [1.0], "aggressor_side": [-1]})
    series = pd.DataFrame({"t": [100.0], "oi": [3.0]})
    c = candles(trades, series, interval_s=30.0)
    # Intervals (60, 90] and (90, 120]; the only OI value comes at t=100.
    assert c["t_close"].tolist() == [90.0, 120.0]
    assert np.isnan(c.loc[0, "oi"]) and c.loc[1, "oi"] == 3.0


def test_candle_feed_emits_the_same_candles_as_the_offline_builder():
    trades, series = _trades(), _series()
    offline = candles(trades, series, interval_s=60.0)
    feed = CandleFeed(60.0)
    emitted = []
    emitted_at = []
    for t in np.unique(np.concatenate([trades["t"], series["t"]])):
        step = trades[trades["t"] == t]
        known = series[series["t"] <= t]["oi"]
        oi = float(known.iloc[-1]) if len(known) else math.nan
        done = feed.update(t, step["price"].to_numpy(), step["qty"].to_numpy(),
                           step["aggressor_side"].to_numpy(), oi)
        emitted += done
        emitted_at += [t] * len(done)
    # The partial interval (180, 240] is never emitted; the others are, as soon as a step
    # shows they ended: interval 0 at its last second t=60, interval 1 at the next step
    # (t=150, no step at t=120), interval 2 at t=200.
    assert emitted_at == [60.0, 150.0, 200.0]
    online = pd.DataFrame(emitted, columns=list(CANDLE_COLUMNS))
    pd.testing.assert_frame_equal(online, offline.iloc[:3], check_exact=False, rtol=1e-12)


def test_candle_feed_refuses_time_going_back():
    feed = CandleFeed(60.0)
    feed.update(10.0, [], [], [], 0.0)
    with pytest.raises(ValueError, match="time went back"):
        feed.update(9.0, [], [], [], 0.0)


def test_candles_refuse_a_non_positive_interval():
    with pytest.raises(ValueError, match="interval_s"):
        candles(_trades(), _series(), interval_s=0.0)
