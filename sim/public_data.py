"""Public-style market data: OHLCV candles with taker volume and open interest.

What an exchange publishes and a public dashboard can download: per interval the open, high,
low and close of traded prices, the traded volume split by the aggressor's side, and the open
interest. :func:`candles` builds them offline from a run's ``trades`` and ``series`` tables;
:class:`CandleFeed` builds the same candles online, one simulation step at a time, for an agent
that reads published data while the market runs.

Candle columns (one row per interval ``(t_open, t_close]``; money in USD, sizes in base units):

==================  ==========================================================================
``t_open``          interval start, seconds (exclusive: a trade at ``t_open`` belongs to the
                    interval before, as the simulator stamps a step's fills at its end time)
``t_close``         interval end, seconds (inclusive)
``open``            price of the interval's first trade
``high``, ``low``   highest and lowest traded price
``close``           price of the interval's last trade
``volume``          traded size, base units (e.g. BTC), liquidation fills included
``taker_buy_volume``   traded size whose aggressor bought
``taker_sell_volume``  traded size whose aggressor sold
``oi``              open interest (base units) at ``t_close``: the last value known at or
                    before the close; NaN before the first known value
``typical``         typical price ``(high + low + close) / 3``
==================  ==========================================================================

An interval without trades carries the previous close: ``open = high = low = close`` = the last
close, zero volume (NaN prices before the first trade). These are the columns of Binance's
USDⓈ-M 'Kline/Candlestick Data' (``taker buy base asset volume``; sell = volume − buy) joined
with its 'Open Interest Statistics' (``sumOpenInterest``) on the close time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["CANDLE_COLUMNS", "CandleFeed", "candles", "interval_index", "no_candles"]

CANDLE_COLUMNS = ("t_open", "t_close", "open", "high", "low", "close", "volume",
                  "taker_buy_volume", "taker_sell_volume", "oi", "typical")

# Step times are sums of float step lengths; a time this close above a boundary still closes
# the interval that ends there.
_T_EPS = 1e-6


def interval_index(t: np.ndarray | float, interval_s: float, t0: float = 0.0) -> np.ndarray:
    """Return the index k of the interval ``(t0 + k·interval_s, t0 + (k+1)·interval_s]`` of t."""
    return np.floor((np.asarray(t, dtype=np.float64) - t0 - _T_EPS) / interval_s).astype(np.int64)


def no_candles() -> pd.DataFrame:
    """Return a candle table with no rows (the columns of :data:`CANDLE_COLUMNS`)."""
    return pd.DataFrame({c: np.zeros(0) for c in CANDLE_COLUMNS})


def _check_interval(interval_s: float) -> float:
    v = float(interval_s)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"interval_s must be a finite number > 0, got {interval_s!r}")
    return v


def candles(trades: pd.DataFrame, series: pd.DataFrame, interval_s: float = 60.0,
            t0: float = 0.0) -> pd.DataFrame:
    """Return one candle per interval (the columns of :data:`CANDLE_COLUMNS`, module docstring).

    The intervals run from the one holding the earliest time in ``trades`` or ``series`` to the
    one holding the latest (the last may be partial). Trades within an interval are taken in
    their table order, which is fill order in a run's ``trades``.

    Args:
        trades: Columns ``t``, ``price``, ``qty`` (base units) and ``aggressor_side`` (+1 buy,
            -1 sell), as in ``RunResult.trades``.
        series: Columns ``t`` and ``oi`` (base units), as in ``RunResult.series``.
        interval_s: Candle length in seconds.
        t0: Time of an interval boundary (intervals are ``(t0 + k·I, t0 + (k+1)·I]``).

    Returns:
        DataFrame of candles in time order.
    """
    interval_s = _check_interval(interval_s)
    tt = trades["t"].to_numpy(dtype=np.float64)
    st = series["t"].to_numpy(dtype=np.float64)
    if len(tt) == 0 and len(st) == 0:
        return no_candles()
    times = np.concatenate([tt, st])
    k_lo = int(interval_index(times.min(), interval_s, t0))
    n = int(interval_index(times.max(), interval_s, t0)) - k_lo + 1
    t_open = t0 + (k_lo + np.arange(n)) * interval_s
    t_close = t_open + interval_s

    k = interval_index(tt, interval_s, t0) - k_lo
    # A stable sort keeps fill order inside an interval, so open/close are first/last fills.
    order = np.argsort(k, kind="stable")
    ks = k[order]
    price = trades["price"].to_numpy(dtype=np.float64)[order]
    qty = trades["qty"].to_numpy(dtype=np.float64)[order]
    side = trades["aggressor_side"].to_numpy()[order]

    open_ = np.full(n, np.nan)
    high = np.full(n, np.nan)
    low = np.full(n, np.nan)
    close = np.full(n, np.nan)
    if len(ks):
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        ends = np.r_[starts[1:], len(ks)] - 1
        ids = ks[starts]
        open_[ids] = price[starts]
        high[ids] = np.maximum.reduceat(price, starts)
        low[ids] = np.minimum.reduceat(price, starts)
        close[ids] = price[ends]
    buy = np.bincount(ks, weights=np.where(side > 0, qty, 0.0), minlength=n)
    sell = np.bincount(ks, weights=np.where(side < 0, qty, 0.0), minlength=n)
    volume = np.bincount(ks, weights=qty, minlength=n)

    # Empty intervals carry the last close (forward fill by index of the last traded interval).
    traded = np.bincount(ks, minlength=n) > 0
    last = np.maximum.accumulate(np.where(traded, np.arange(n), -1))
    carried = np.where(last >= 0, close[np.maximum(last, 0)], np.nan)
    for col in (open_, high, low, close):
        col[~traded] = carried[~traded]

    s_order = np.argsort(st, kind="stable")
    s_t = st[s_order]
    s_oi = series["oi"].to_numpy(dtype=np.float64)[s_order]
    at = np.searchsorted(s_t, t_close + _T_EPS, side="right") - 1
    oi = np.where(at >= 0, s_oi[np.maximum(at, 0)], np.nan)

    return pd.DataFrame({
        "t_open": t_open, "t_close": t_close, "open": open_, "high": high, "low": low,
        "close": close, "volume": volume, "taker_buy_volume": buy, "taker_sell_volume": sell,
        "oi": oi, "typical": (high + low + close) / 3.0,
    })


class CandleFeed:
    """Builds the candles of :func:`candles` online, from one step's fills at a time.

    Feed it every step, in time order (steps without fills included, so that the open interest
    and the clock advance); it returns the candles completed by that step. Fed the same fills
    and open interest that a run records, it emits the rows :func:`candles` returns for the run
    (except a trailing partial interval, which it never emits).

    Args:
        interval_s: Candle length in seconds.
        t0: Time of an interval boundary.

    Example (a model observer; the exchange's fills are in ticks and lots)::

        feed = CandleFeed(60.0)
        done = feed.update(model.t, fills["price"] * tick, fills["qty"] * lot,
                           fills["taker_side"], exchange.open_interest * lot)
    """

    def __init__(self, interval_s: float = 60.0, t0: float = 0.0) -> None:
        self.interval_s = _check_interval(interval_s)
        self.t0 = float(t0)
        self._k: int | None = None
        self._t_last = -math.inf
        self._oi = math.nan
        self._prev_close = math.nan
        self._reset()

    def _reset(self) -> None:
        self._open = self._high = self._low = self._close = math.nan
        self._volume = self._buy = self._sell = 0.0

    def update(self, t: float, prices: np.ndarray, qtys: np.ndarray, sides: np.ndarray,
               oi: float) -> list[dict[str, float]]:
        """Add one step and return the candles it completed (oldest first; often none).

        Args:
            t: The step's time, seconds; not earlier than the previous update's.
            prices: Fill prices (USD), in fill order.
            qtys: Fill sizes, base units.
            sides: Aggressor side of each fill, +1 buy / -1 sell.
            oi: Open interest (base units) after the step.

        Returns:
            Completed candles as dicts keyed by :data:`CANDLE_COLUMNS`.
        """
        t = float(t)
        if t < self._t_last:
            raise ValueError(f"CandleFeed.update: time went back from {self._t_last} to {t}")
        self._t_last = t
        k = int(interval_index(t, self.interval_s, self.t0))
        done: list[dict[str, float]] = []
        if self._k is None:
            self._k = k
        while self._k < k:
            done.append(self._finish())
        prices = np.asarray(prices, dtype=np.float64)
        if len(prices):
            qtys = np.asarray(qtys, dtype=np.float64)
            sides = np.asarray(sides)
            if math.isnan(self._open):
                self._open, self._high, self._low = prices[0], prices.max(), prices.min()
            else:
                self._high = max(self._high, prices.max())
                self._low = min(self._low, prices.min())
            self._close = prices[-1]
            self._volume += float(qtys.sum())
            self._buy += float(qtys[sides > 0].sum())
            self._sell += float(qtys[sides < 0].sum())
        self._oi = float(oi)
        if t >= self.t0 + (self._k + 1) * self.interval_s - _T_EPS:
            done.append(self._finish())
        return done

    def _finish(self) -> dict[str, float]:
        """Return the open interval's candle and open the next one."""
        assert self._k is not None
        if math.isnan(self._open):
            o = h = lo = c = self._prev_close
        else:
            o, h, lo, c = self._open, self._high, self._low, self._close
        t_open = self.t0 + self._k * self.interval_s
        row = {
            "t_open": t_open, "t_close": t_open + self.interval_s, "open": float(o),
            "high": float(h), "low": float(lo), "close": float(c), "volume": self._volume,
            "taker_buy_volume": self._buy, "taker_sell_volume": self._sell, "oi": self._oi,
            "typical": (h + lo + c) / 3.0,
        }
        self._prev_close = c
        self._k += 1
        self._reset()
        return row
