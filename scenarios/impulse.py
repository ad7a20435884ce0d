"""Price impact on common random numbers: one scenario run with and without a metaorder.

For each seed the scenario runs twice, on the same seed: without, and with one extra
``agents.metaorder.Metaorder`` (``notional_usd`` bought or sold on ``venue``, one market order
per step over ``over_s`` seconds from ``start_s``). Every component draws from its own random
stream (``MarketModel.random_stream``) and the metaorder draws nothing, so the two runs see
the same news and the same crowds' draws; their difference is the metaorder's impact.

The response of the last price, the mark and the index is the signed difference with minus
without, in basis points of the without-run's price, read from the recorder's series at:

- the peak: the largest excursion in the metaorder's direction from its start to
  ``PEAK_AFTER_S`` (5 min) after its end, which is the impact and the cascades it sets off
  (the value at that time, signed: > 0 up, whatever the side); a later window would catch the
  two paths drifting apart and single prints in a thin book hours after;
- its end (its last slice), and 5 min, 30 min and 4 h after it.

The run's ``duration_s`` is set to end at the last point read (4 h after the metaorder's
end): nothing later is measured, and the steps before it do not depend on the duration.

``impact_targets`` reads issue 13's price-impact targets off responses to metaorders of
several sizes on the same venue (``TARGETS``): the log-log slope of the pushed price's peak
over the notional (concave impact, the square-root law's 0.5 within 0.4-0.7: Toth et al.
2011), the share of a perp push that reaches the index (the index's peak over the mark's) and
the share of the peak that remains 30 minutes after the end (an uninformed push fades, but
not at once).
Series rows are read at the last row at or before each time, so a scenario with
``outputs.series_interval_s`` above the step reads its points that much coarser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from agents.metaorder import Metaorder
from scenarios.runner import Market, build_market
from scenarios.schema import Overrides, Scenario, load_scenario
from sim.exchange import BUY, SELL
from sim.recorder import SERIES_COLUMNS

PRICES = ("last", "mark", "index")
HORIZONS_S = {"at_end_bp": 0.0, "at_5min_bp": 300.0, "at_30min_bp": 1800.0,
              "at_4h_bp": 14_400.0}
PEAK_AFTER_S = 300.0
"""The peak is sought from the metaorder's start to this long after its end (s)."""
TARGETS = {
    "impact_slope": (0.4, 0.7),
    "index_reach": (0.7, math.inf),
    "remaining_30min": (0.5, 0.8),
}
"""Issue 13's price-impact targets: name -> (low, high), inclusive."""
MIN_SIZE_RANGE = 10.0
"""The slope is checked only over sizes at least this many times apart."""
SIDES = {"buy": BUY, "sell": SELL}
VENUES = ("perp", "spot")
DEFAULT_START_S = 3600.0


class ImpulseError(ValueError):
    """Input the impulse measurement cannot use; the message is one line naming it."""


def impulse_response(scenario: str | Path | Scenario, notional_usd: float, over_s: float,
                     venue: str, seeds: int | Iterable[int], side: str = "buy",
                     start_s: float = DEFAULT_START_S, overrides: Overrides = ()) -> dict:
    """Return the mean and per-seed price response to one metaorder, JSON-ready.

    Args:
        scenario: a bundled name, a path or a ``Scenario``.
        notional_usd: the metaorder's notional (USD, > 0).
        over_s: seconds over which it is sliced (> 0).
        venue: "perp" or "spot" (spot needs ``index.model: spot``).
        seeds: N (seeds 0 .. N-1) or the seeds themselves; they run one after the other.
        side: "buy" or "sell".
        start_s: simulated time of its start.
        overrides: settings applied to the scenario (``key.path=value`` or a mapping).

    Returns:
        ``{"notional_usd", "venue", "seeds", "peak_bp", "at_5min_bp", "at_30min_bp",
        "at_4h_bp"}``, each ``*_bp`` a mapping ``{"last", "mark", "index"}`` of mean signed
        differences (bp); also ``at_end_bp`` (at the metaorder's last slice), ``side``,
        ``over_s``, ``start_s``, ``seed_list`` and ``per_seed`` (each seed's responses, the
        notional done, its empty and rejected slices and the last price's peak time).

    Raises:
        ImpulseError: bad notional, duration, side or venue.
        ScenarioError: a scenario that does not load or validate.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    base = impulse_scenario(scenario, over_s, start_s, overrides)
    _check(base, notional_usd, over_s, venue, seed_list, side, start_s)
    per_seed = []
    for seed in seed_list:
        sc = base.model_copy(update={"seed": seed})
        without, with_ = run_pair(sc, notional_usd, over_s, venue, side, start_s)
        metaorder = with_.agents["metaorder"][0]
        row = response(series_table(without), series_table(with_), SIDES[side], start_s,
                       metaorder.end_s)
        row.update(seed=seed, done_usd=metaorder.done_usd,
                   empty_slices=metaorder.empty_slices,
                   rejected_slices=metaorder.rejected_slices)
        per_seed.append(row)
    out: dict = {"notional_usd": float(notional_usd), "venue": venue, "seeds": len(seed_list)}
    for key in ("peak_bp", *HORIZONS_S):
        out[key] = {p: float(np.mean([r[key][p] for r in per_seed])) for p in PRICES}
    out.update(side=side, over_s=float(over_s), start_s=float(start_s), seed_list=seed_list,
               per_seed=per_seed)
    return out


def impulse_scenario(scenario: str | Path | Scenario, over_s: float, start_s: float,
                     overrides: Overrides = ()) -> Scenario:
    """Return the scenario with ``duration_s`` ending 4 h after the metaorder's end."""
    if isinstance(scenario, Scenario):
        if overrides:
            raise ImpulseError("overrides apply to a scenario name or file, not a Scenario")
        sc = scenario
    else:
        sc = load_scenario(scenario, overrides)
    duration_s = start_s + over_s + max(HORIZONS_S.values())
    if not math.isfinite(duration_s):
        raise ImpulseError(f"--start-s and --over must be finite, got {start_s!r}, {over_s!r}")
    return sc.model_copy(update={"duration_s": float(duration_s)})


def _check(sc: Scenario, notional_usd: float, over_s: float, venue: str, seeds: list[int],
           side: str, start_s: float) -> None:
    if not (math.isfinite(notional_usd) and notional_usd > 0):
        raise ImpulseError(f"--notional must be a finite number of USD > 0, got {notional_usd!r}")
    if not (math.isfinite(over_s) and over_s > 0):
        raise ImpulseError(f"--over must be a finite number of seconds > 0, got {over_s!r}")
    if not (math.isfinite(start_s) and start_s >= 0):
        raise ImpulseError(f"--start-s must be a finite number of seconds >= 0, got {start_s!r}")
    if side not in SIDES:
        raise ImpulseError(f"--side must be buy or sell, got {side!r}")
    if venue not in VENUES:
        raise ImpulseError(f"--venue must be perp or spot, got {venue!r}")
    if venue == "spot" and sc.index.model != "spot":
        raise ImpulseError(f"--venue spot: scenario {sc.name} has no spot book (its index is "
                           f"{sc.index.model}); use --venue perp")
    if not seeds or any(s < 0 for s in seeds):
        raise ImpulseError(f"seeds must be one or more integers >= 0, got {seeds!r}")


def run_pair(sc: Scenario, notional_usd: float, over_s: float, venue: str, side: str = "buy",
             start_s: float = DEFAULT_START_S) -> tuple[Market, Market]:
    """Return the stepped markets ``(without, with)`` of ``sc``; ``with`` holds the metaorder
    as ``agents["metaorder"][0]``."""
    without = build_market(sc)
    with_ = build_market(sc)
    metaorder = Metaorder(with_.model, notional_usd=notional_usd, over_s=over_s,
                          start_s=start_s, side=SIDES[side], venue=venue)
    with_.agents["metaorder"] = [metaorder]
    for market in (without, with_):
        model = market.model
        for _ in range(market.n_steps):
            model.step()
    return without, with_


def series_table(market: Market) -> Mapping[str, np.ndarray]:
    """Return the recorder's series so far as columns (a view, no copy)."""
    rec = market.recorder
    rows = rec.series[: rec.n_rows]
    return {name: rows[:, k] for k, name in enumerate(SERIES_COLUMNS)}


def response(without: Mapping[str, np.ndarray], with_: Mapping[str, np.ndarray], side: int,
             start_s: float, end_s: float) -> dict:
    """Return the signed response (bp of ``without``) of every price at the peak and horizons.

    ``side`` (BUY = 1, SELL = -1) is the metaorder's direction: the peak is the time from
    ``start_s`` to ``end_s + PEAK_AFTER_S`` where ``side * difference`` is largest, and its
    value is the signed difference there. Also ``peak_t`` (the last price's peak time, s).
    """
    t = without["t"]
    out: dict = {}
    diff = {p: 1e4 * (with_[p] - without[p]) / without[p] for p in PRICES}
    window = (t >= start_s - 1e-9) & (t <= end_s + PEAK_AFTER_S + 1e-9)
    peak: dict = {}
    for p in PRICES:
        d = np.where(window & np.isfinite(diff[p]), side * diff[p], -np.inf)
        k = int(np.argmax(d))
        peak[p] = float(diff[p][k]) if np.isfinite(d[k]) else float("nan")
        if p == "last":
            out["peak_t"] = float(t[k])
    out["peak_bp"] = peak
    for key, after_s in HORIZONS_S.items():
        k = int(np.searchsorted(t, end_s + after_s + 1e-9, side="right")) - 1
        out[key] = {p: float(diff[p][k]) for p in PRICES}
    return out


def pushed_price(venue: str) -> str:
    """Return the price a push on ``venue`` is measured by: the mark on the perpetual (the
    price its liquidations follow), the index on spot."""
    return "mark" if venue == "perp" else "index"


def impact_targets(responses: Iterable[Mapping]) -> dict[str, dict]:
    """Return each of ``TARGETS`` measured on ``impulse_response`` outputs (one venue).

    - ``impact_slope``: least-squares slope of ``log(peak)`` on ``log(notional)`` of the
      pushed price, over sizes whose peak is in the push's direction; measured only when
      they span ``MIN_SIZE_RANGE``.
    - ``index_reach`` (perp pushes): the index's peak over the mark's, of the largest size.
    - ``remaining_30min``: the pushed price 30 min after the end over its peak, of the largest
      size.

    Each value is ``{"value", "low", "high", "ok"}`` (``high`` None: no upper bound);
    ``value`` and ``ok`` are None where the target is not measured (one size, a spot push,
    or a peak against the push).
    """
    rows = sorted(responses, key=lambda r: r["notional_usd"])
    if not rows:
        raise ValueError("impact_targets needs at least one response")
    venues = {r["venue"] for r in rows}
    if len(venues) != 1:
        raise ValueError(f"impact_targets needs one venue, got {sorted(venues)}")
    venue = venues.pop()
    price = pushed_price(venue)
    sign = {"buy": 1.0, "sell": -1.0}
    values: dict[str, float | None] = dict.fromkeys(TARGETS)
    moved = [(r["notional_usd"], sign[r.get("side", "buy")] * r["peak_bp"][price])
             for r in rows]
    moved = [(n, peak) for n, peak in moved if peak > 0]
    if len(moved) >= 2 and moved[-1][0] >= MIN_SIZE_RANGE * moved[0][0]:
        x, y = np.log([n for n, _ in moved]), np.log([peak for _, peak in moved])
        values["impact_slope"] = float(np.polyfit(x, y, 1)[0])
    largest = rows[-1]
    peak = largest["peak_bp"][price]
    if peak * sign[largest.get("side", "buy")] > 0:
        values["remaining_30min"] = float(largest["at_30min_bp"][price] / peak)
        if venue == "perp":
            values["index_reach"] = float(largest["peak_bp"]["index"] / peak)
    out = {}
    for name, (low, high) in TARGETS.items():
        value = values[name]
        ok = None if value is None else bool(low <= value <= high)
        out[name] = {"value": value, "low": low, "high": high if math.isfinite(high) else None,
                     "ok": ok}
    return out


__all__ = ["impulse_response", "impact_targets", "pushed_price", "impulse_scenario", "run_pair",
           "response", "series_table", "ImpulseError", "TARGETS"]
