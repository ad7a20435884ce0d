"""The public estimate of a liquidation heatmap, computed from candles and open interest only.

The recipe public dashboards describe (e.g. Coinglass 'Liquidation Heatmap' and Hyblock
'Liquidation Levels' methodology notes): nobody outside the venue sees positions, so every rise
of open interest is taken as new positions opened at the candle's typical price, split between
longs and shorts by the taker-buy share of the candle's volume, and spread over an assumed
leverage mix; each (side, leverage) slice is given the liquidation price of an isolated position
at that leverage. For each candle, in order:

1. levels traded through by this candle are removed (they are taken as liquidated): a long level
   at P goes when the candle's ``low <= P``, a short level when ``high >= P``; levels created by
   a candle are first tested against the next one;
2. when ΔOI < 0 every live level is reduced pro rata, by ``|ΔOI| / OI_before``;
3. when ΔOI > 0 the new notional ``ΔOI × typical`` (USD) is split ``share`` long and
   ``1 − share`` short, ``share = taker_buy_volume / volume`` (0.5 without volume), and each
   side by the leverage mix; the slice of side s and leverage L gets the level
   :func:`~sim.exchange.perp.liquidation_price`
   ``(s, Q, typical, Q·typical/L, tiers)`` with ``Q`` the
   slice's size (``notional / typical``) — or, with ``naive=True``, ``typical·(1 − s/L)``.

Only candles are read, so the estimator runs on real exchange exports as well. Required
columns (see :mod:`sim.public_data` for their meaning and the Binance fields they map to):
``t_close``, ``high``, ``low``, ``close``, ``volume``, ``taker_buy_volume``, ``oi`` (base
units); ``typical`` is used when present, else computed as ``(high + low + close) / 3``.
A NaN ``oi`` is a missing value: the last known OI stands.

Levels are notional in USD at entry, the unit of the true map (:mod:`sim.heatmap`), and live in
flat arrays; one candle costs a few vectorized passes over the live levels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sim.exchange.perp import BTCUSDT_TIERS, MarginTier, liquidation_prices_nb, tier_arrays
from sim.public_data import CandleFeed

__all__ = ["DEFAULT_LEVERAGE_MIX", "REQUIRED_COLUMNS", "HeatmapEstimator",
           "PublicHeatmapObserver", "estimate_heatmap"]

DEFAULT_LEVERAGE_MIX: dict[float, float] = {5: 0.15, 10: 0.30, 25: 0.25, 50: 0.20, 100: 0.10}
REQUIRED_COLUMNS = ("t_close", "high", "low", "close", "volume", "taker_buy_volume", "oi")

_T_EPS = 1e-6


def _leverage_arrays(leverage_mix: Mapping[float, float]) -> tuple[np.ndarray, np.ndarray]:
    if len(leverage_mix) == 0:
        raise ValueError("leverage_mix must name at least one leverage")
    lev = np.array([float(k) for k in leverage_mix], dtype=np.float64)
    w = np.array([float(v) for v in leverage_mix.values()], dtype=np.float64)
    if not (np.isfinite(lev).all() and (lev >= 1.0).all()):
        raise ValueError(f"leverage_mix leverages must be finite and >= 1, got {list(lev)}")
    if not (np.isfinite(w).all() and (w >= 0.0).all() and abs(w.sum() - 1.0) <= 1e-9):
        raise ValueError(f"leverage_mix weights must be >= 0 and sum to 1, got {list(w)}")
    return lev, w


class HeatmapEstimator:
    """The estimated map, updated one candle at a time (the recipe of the module docstring).

    Args:
        leverage_mix: ``{leverage: share of new notional}``; shares sum to 1.
        tiers: Maintenance margin tiers for the exact liquidation price.
        naive: Use ``entry·(1 ∓ 1/L)`` instead of the tier formula.
        initial_oi: Open interest before the first candle. 0.0 (the default) suits a simulated
            run, which starts flat; ``None`` takes the first candle's OI as a baseline whose
            positions are unknown (no levels), as for an export that begins mid-history.
        position_usd: When given, the size of one representative position, used only to pick
            the maintenance tier (the level of a slice then does not depend on how much notional
            the candle brought); ``None`` treats each slice as one position, the literal recipe.
    """

    def __init__(self, leverage_mix: Mapping[float, float] = DEFAULT_LEVERAGE_MIX,
                 tiers: Sequence[MarginTier] = BTCUSDT_TIERS, naive: bool = False,
                 initial_oi: float | None = 0.0, position_usd: float | None = None) -> None:
        lev, w = _leverage_arrays(leverage_mix)
        m = len(lev)
        self._lev2 = np.concatenate([lev, lev])
        self._w2 = np.concatenate([w, w])
        self._side2 = np.concatenate([np.ones(m, np.int64), -np.ones(m, np.int64)])
        self._tiers = tier_arrays(tiers)
        self.naive = bool(naive)
        if position_usd is not None and not (math.isfinite(position_usd) and position_usd > 0):
            raise ValueError(f"position_usd must be a finite number > 0, got {position_usd!r}")
        self.position_usd = position_usd
        self._oi = math.nan if initial_oi is None else float(initial_oi)
        cap = 1024
        self._n = 0
        self._price = np.zeros(cap)
        self._notional = np.zeros(cap)
        self._side = np.zeros(cap, np.int64)
        self._entry = np.zeros(cap)
        self._leverage = np.zeros(cap)
        self._born = np.zeros(cap)

    @property
    def oi(self) -> float:
        """Open interest after the last candle (NaN before a baseline is known)."""
        return self._oi

    def levels(self) -> pd.DataFrame:
        """Return the live levels: price, notional_usd, side, entry_price, leverage, t_created."""
        n = self._n
        return pd.DataFrame({
            "price": self._price[:n].copy(), "notional_usd": self._notional[:n].copy(),
            "side": self._side[:n].copy(), "entry_price": self._entry[:n].copy(),
            "leverage": self._leverage[:n].copy(), "t_created": self._born[:n].copy(),
        })

    def add_candle(self, row: Mapping[str, float]) -> None:
        """Apply one candle (a mapping with :data:`REQUIRED_COLUMNS`, e.g. a CandleFeed row)."""
        typical = row.get("typical", math.nan)
        if typical is None or not math.isfinite(typical):
            typical = (row["high"] + row["low"] + row["close"]) / 3.0
        self.add(t_close=float(row["t_close"]), high=float(row["high"]), low=float(row["low"]),
                 typical=float(typical), volume=float(row["volume"]),
                 taker_buy_volume=float(row["taker_buy_volume"]), oi=float(row["oi"]))

    def add(self, t_close: float, high: float, low: float, typical: float, volume: float,
            taker_buy_volume: float, oi: float) -> None:
        """Apply one candle given as numbers (steps 1-3 of the module docstring)."""
        n = self._n
        if n:
            side = self._side[:n]
            price = self._price[:n]
            # NaN high/low (no trade yet) compare False: nothing is traded through.
            hit = ((side > 0) & (price >= low)) | ((side < 0) & (price <= high))
            if hit.any():
                self._keep(~hit)
        if math.isnan(oi):
            return
        before = self._oi
        self._oi = oi
        if math.isnan(before):
            return
        d_oi = oi - before
        if d_oi < 0.0 and self._n:
            factor = max(0.0, oi / before) if before > 0.0 else 0.0
            self._notional[: self._n] *= factor
            if factor == 0.0:
                self._n = 0
        elif d_oi > 0.0 and math.isfinite(typical) and typical > 0.0:
            self._open_levels(t_close, typical, d_oi * typical,
                              taker_buy_volume / volume if volume > 0.0 else 0.5)

    def _open_levels(self, t_close: float, typical: float, notional: float, share: float) -> None:
        side_share = np.where(self._side2 > 0, share, 1.0 - share)
        slice_usd = notional * side_share * self._w2
        ok = slice_usd > 0.0
        sides, lev, slice_usd = self._side2[ok], self._lev2[ok], slice_usd[ok]
        entry = np.full(len(sides), typical)
        if self.naive:
            level = typical * (1.0 - sides / lev)
        else:
            sized = slice_usd if self.position_usd is None else np.full(len(sides),
                                                                        self.position_usd)
            qty = sized / typical
            floors, _, mmr, cum = self._tiers
            level = liquidation_prices_nb(sides, qty, entry, sized / lev, floors, mmr, cum)
        self._append(level, slice_usd, sides, entry, lev, t_close)

    def _append(self, price, notional, side, entry, leverage, t_close) -> None:
        k = len(price)
        need = self._n + k
        if need > len(self._price):
            cap = max(2 * len(self._price), need)
            for name in ("_price", "_notional", "_side", "_entry", "_leverage", "_born"):
                old = getattr(self, name)
                grown = np.zeros(cap, dtype=old.dtype)
                grown[: self._n] = old[: self._n]
                setattr(self, name, grown)
        s = slice(self._n, need)
        self._price[s], self._notional[s], self._side[s] = price, notional, side
        self._entry[s], self._leverage[s], self._born[s] = entry, leverage, t_close
        self._n = need

    def _keep(self, keep: np.ndarray) -> None:
        m = int(keep.sum())
        for arr in (self._price, self._notional, self._side, self._entry, self._leverage,
                    self._born):
            arr[:m] = arr[: self._n][keep]
        self._n = m

    def map(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (long_usd, short_usd): live notional per bin ``[edges[i], edges[i+1])``."""
        edges = np.asarray(edges, dtype=np.float64)
        n_bins = len(edges) - 1
        if n_bins < 1 or not (np.diff(edges) > 0).all():
            raise ValueError("edges must be increasing, with at least two values")
        n = self._n
        b = np.searchsorted(edges, self._price[:n], side="right") - 1
        ok = (b >= 0) & (b < n_bins)
        longs = ok & (self._side[:n] > 0)
        shorts = ok & (self._side[:n] < 0)
        notional = self._notional[:n]
        return (np.bincount(b[longs], weights=notional[longs], minlength=n_bins),
                np.bincount(b[shorts], weights=notional[shorts], minlength=n_bins))


def estimate_heatmap(candles: pd.DataFrame, edges: np.ndarray, times: np.ndarray,
                     leverage_mix: Mapping[float, float] = DEFAULT_LEVERAGE_MIX,
                     tiers: Sequence[MarginTier] = BTCUSDT_TIERS, naive: bool = False,
                     initial_oi: float | None = 0.0, position_usd: float | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Return the estimated (long, short) maps, each (len(times), len(edges) − 1), in USD.

    The map at time t holds every candle with ``t_close <= t``; pass the true map's snapshot
    times and edges to put both maps on one grid. Arguments after ``times`` are those of
    :class:`HeatmapEstimator`.

    Args:
        candles: Candles with :data:`REQUIRED_COLUMNS`, e.g. from :func:`sim.public_data.candles`.
        edges: Price bin edges, increasing.
        times: Sampling times, seconds (any order).

    Raises:
        ValueError: If a required column is missing (the message names it).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in candles.columns]
    if missing:
        raise ValueError(f"candles lack the columns {missing}; required: {list(REQUIRED_COLUMNS)}")
    est = HeatmapEstimator(leverage_mix, tiers, naive, initial_oi, position_usd)
    order = np.argsort(candles["t_close"].to_numpy(dtype=np.float64), kind="stable")
    cols = {c: candles[c].to_numpy(dtype=np.float64)[order] for c in REQUIRED_COLUMNS}
    if "typical" in candles.columns:
        typical = candles["typical"].to_numpy(dtype=np.float64)[order]
    else:
        typical = (cols["high"] + cols["low"] + cols["close"]) / 3.0
    times = np.asarray(times, dtype=np.float64)
    n_bins = len(edges) - 1
    long_out = np.zeros((len(times), n_bins))
    short_out = np.zeros((len(times), n_bins))
    j = 0
    for i in np.argsort(times, kind="stable"):
        while j < len(typical) and cols["t_close"][j] <= times[i] + _T_EPS:
            est.add(cols["t_close"][j], cols["high"][j], cols["low"][j], typical[j],
                    cols["volume"][j], cols["taker_buy_volume"][j], cols["oi"][j])
            j += 1
        long_out[i], short_out[i] = est.map(edges)
    return long_out, short_out


class PublicHeatmapObserver:
    """The public estimate kept current while a model runs: a model observer.

    Each call passes the step's public data — its fills and the open interest — through a
    :class:`sim.public_data.CandleFeed` and every completed candle into a
    :class:`HeatmapEstimator`; :meth:`map` then reads the estimate as a dashboard would show it
    now (completed candles only). Register it with ``model.observers.append(observer)``.

    Args:
        interval_s: Candle length in seconds.
        **estimator_options: Arguments of :class:`HeatmapEstimator`.
    """

    def __init__(self, interval_s: float = 60.0, **estimator_options) -> None:
        self.feed = CandleFeed(interval_s)
        self.estimator = HeatmapEstimator(**estimator_options)
        self.n_candles = 0

    def __call__(self, model) -> None:
        """Take the step that just ended (``model.t``, ``model.fills``, ``model.perp``)."""
        ex = model.perp
        tick, lot = ex.config.tick_size, ex.config.lot_size
        fills = model.fills
        for row in self.feed.update(model.t, fills["price"] * tick, fills["qty"] * lot,
                                    fills["taker_side"], ex.open_interest * lot):
            self.estimator.add_candle(row)
            self.n_candles += 1

    def add_past(self, past: pd.DataFrame) -> None:
        """Take the candles of the market's past before the first step (a warm start's
        ``agents.warm_start.past_candles``), as a dashboard that watched it would have."""
        for row in past.to_dict("records"):
            self.estimator.add_candle(row)
        self.n_candles += len(past)

    def map(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (long_usd, short_usd) per bin of ``edges`` (:meth:`HeatmapEstimator.map`)."""
        return self.estimator.map(edges)
