"""How the traders hold positions: churn, liquidations, holding times, stop walls, a warm start,
and the aftermath of a shock (``liqsim positions``).

One run is stepped by hand so that the resting stops can be read once an hour; everything else
comes from the run's own outputs. The figures and the issue's targets (``docs/traders.md``):

* ``volume_per_day_over_oi``: traded notional per day over the mean open interest (notional),
  both after ``skip_s`` (target 0.5-5; Binance's BTC futures about 1.3);
* ``liquidations_pct_of_volume``: liquidated notional (at the mark) over traded notional, %;
* ``oi_first_hour_over_mean``: mean open interest in the first hour over the run's mean (a warm
  start: within 0.8-1.2);
* ``largest_stop_wall_pct_oi``: the largest resting stop notional at one price (one-tick bins
  within 10 % of the mark, both triggers and sides), read every hour, over the open interest
  then, the largest of the run, % (target < 2);
* ``crowds``: the manifest's per-crowd figures (median holding time, notional-weighted
  leverage, how positions ended).

With ``shock_s`` (a scheduled shock's time) also: the open interest's largest fall within 4 h
against the mean of the hour before (%), the largest hour of liquidations over that open
interest (%), the lowest last price within the hour after against the minute before (%), and
the share of that drop retraced an hour after the shock.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from scenarios.runner import build_market, finish
from scenarios.schema import Scenario

HOUR_S = 3600.0


def _largest_stop_wall(exchange) -> tuple[float, float]:
    """Return (largest resting stop notional at one tick, open interest notional) now (USD)."""
    cfg = exchange.config
    mark = exchange.mark_price
    edges = np.arange(round(0.9 * mark / cfg.tick_size), round(1.1 * mark / cfg.tick_size) + 1,
                      dtype=np.float64) * cfg.tick_size
    sell, buy = exchange.resting_stop_notional_usd(edges)
    return max(float(sell.max()), float(buy.max())), exchange.open_interest * cfg.lot_size * mark


def position_figures(scenario: Scenario, skip_s: float = 2 * HOUR_S,
                     shock_s: float | None = None) -> dict:
    """Run ``scenario`` once and return the figures of the module docstring."""
    market = build_market(scenario)
    model = market.model
    started = time.perf_counter()
    walls = []
    every = max(1, round(HOUR_S / scenario.step_s))
    for step in range(market.n_steps):
        model.step()
        if step % every == 0:
            walls.append(_largest_stop_wall(model.perp))
    result = finish(market, time.perf_counter() - started)
    s = result.series
    kept = s[s["t"] > skip_s] if s["t"].iloc[-1] > skip_s + HOUR_S else s
    days = (kept["t"].iloc[-1] - kept["t"].iloc[0] + scenario.step_s) / 86_400.0
    traded = float((kept["volume"] * kept["last"]).sum())
    liq = result.liquidations
    liq = liq[liq["t"] > kept["t"].iloc[0] - scenario.step_s]
    liquidated = float((liq["qty"] * liq["mark"]).sum())
    oi = s["oi_notional"]
    out = {
        "seed": scenario.seed,
        "wall_s": result.manifest["wall_seconds"],
        "volume_per_day_over_oi": traded / days / float(kept["oi_notional"].mean()),
        "liquidations_pct_of_volume": 100.0 * liquidated / traded if traded > 0 else float("nan"),
        "oi_mean_usd": float(oi.mean()),
        "oi_first_hour_over_mean": float(oi[s["t"] <= HOUR_S].mean() / oi.mean()),
        "largest_stop_wall_pct_oi": 100.0 * max(w / o for w, o in walls if o > 0)
        if any(o > 0 for _, o in walls) else float("nan"),
        "warm_start": result.manifest["warm_start"],
        "crowds": result.manifest["crowds"],
    }
    if shock_s is not None:
        out["shock"] = shock_figures(s, result.liquidations, shock_s)
    return out


def shock_figures(series: pd.DataFrame, liquidations: pd.DataFrame, shock_s: float) -> dict:
    """Return the aftermath of a shock at ``shock_s`` (module docstring) from a run's series
    and liquidations."""
    s = series.set_index("t")
    before = float(s["oi_notional"].loc[shock_s - HOUR_S: shock_s].mean())
    low_oi = float(s["oi_notional"].loc[shock_s: shock_s + 4 * HOUR_S].min())
    hour = (liquidations["t"] // HOUR_S).astype(int)
    hourly = (liquidations["qty"] * liquidations["mark"]).groupby(hour).sum()
    p0 = float(s["last"].loc[shock_s - 60: shock_s].mean())
    low = float(s["last"].loc[shock_s: shock_s + HOUR_S].min())
    p1 = float(s["last"].loc[shock_s + HOUR_S - 60: shock_s + HOUR_S].mean())
    return {"oi_before_usd": before, "oi_fall_pct_within_4h": 100.0 * (1.0 - low_oi / before),
            "max_hourly_liquidations_pct_oi": (100.0 * float(hourly.max()) / before
                                               if len(hourly) else 0.0),
            "drop_pct": 100.0 * (low / p0 - 1.0),
            "retraced_after_1h": (p1 - low) / (p0 - low) if p0 > low else float("nan")}


__all__ = ["position_figures", "shock_figures"]
