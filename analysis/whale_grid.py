"""The whale grid: per cell of a sweep over the market's features, how often a hunt succeeds,
how much forced flow a push sets off and what the whale makes (``scenarios/whale_grid.yaml``).

Per cell (a sweep point), over its finished runs:

- ``hunts``, ``succeeded`` and the success rate ``succeeded / hunts``, pooled over the runs;
- the cascade multiplier ``forced / pushed``: the stops and liquidations of the hunted side
  set off from the push's start to the hunt's end over the USD pushed, pooled;
- ``pnl_per_run``: the whale's PnL at the run's last mark, the mean over runs.

Each figure has a 95 % percentile bootstrap interval that resamples runs, not hunts: a run's
hunts share one market path, so they are not independent (the cluster bootstrap; Cameron,
Gelbach & Miller 2008). A cell without a hunt has no success rate (NaN), which is not zero.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.figures import new_figure, save

CROWDING = {0.5: "low", 0.7: "medium", 0.9: "high"}
RESILIENCE = {10: "fast", 600: "slow"}
GRID_CELL = ("crowding", "trigger", "resilience", "index")
CELL_COLUMNS = ("runs", "hunts", "succeeded", "success_rate", "success_low", "success_high",
                "pushed_usd", "forced_usd", "cascade_multiplier", "cascade_low", "cascade_high",
                "pnl_per_run", "pnl_low", "pnl_high")


def grid_labels(summary: pd.DataFrame) -> pd.DataFrame:
    """Return ``summary`` with the whale grid's cell labels: ``crowding`` (low / medium /
    high long bias), ``trigger``, ``resilience`` (fast / slow refill) and ``index`` (one
    venue, or a basket of N)."""
    out = summary.copy()
    out["crowding"] = out["agents.retail.long_bias"].map(
        lambda v: CROWDING.get(round(float(v), 2), f"long bias {v}"))
    out["trigger"] = out["exchange.liquidation_trigger"]
    out["resilience"] = out["agents.latent_liquidity.refill_s"].map(
        lambda v: RESILIENCE.get(int(v), f"refill {v} s"))
    out["index"] = out["index.spot.basket.venues"].map(_index_label)
    return out


def _index_label(venues) -> str:
    """Return "one venue" or "basket of N" from a basket's extra venues (a list, or the
    JSON text the sweep's tables store)."""
    if isinstance(venues, str):
        venues = json.loads(venues)
    n = len(venues) if venues is not None else 0
    return "one venue" if n == 0 else f"basket of {n + 1}"


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, rng: np.random.Generator,
                   n_boot: int) -> tuple[float, float, float]:
    """Return ``sum(num) / sum(den)`` and its 95 % interval from ``n_boot`` resamples of the
    runs (rows); NaN where the denominator sums to 0. A resample whose denominator sums to 0
    (only runs without hunts, or without pushes) has no ratio and is left out."""
    num, den = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    if den.sum() <= 0:
        return np.nan, np.nan, np.nan
    picks = rng.integers(0, len(num), size=(n_boot, len(num)))
    num_b, den_b = num[picks].sum(axis=1), den[picks].sum(axis=1)
    boot = num_b[den_b > 0] / den_b[den_b > 0]
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(num.sum() / den.sum()), float(low), float(high)


def mean_interval(values: np.ndarray, rng: np.random.Generator,
                  n_boot: int) -> tuple[float, float, float]:
    """Return the mean of ``values`` and its 95 % percentile bootstrap interval."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan, np.nan
    boot = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(v.mean()), float(low), float(high)


def cell_table(summary: pd.DataFrame, by: Sequence[str], n_boot: int = 2000,
               seed: int = 0) -> pd.DataFrame:
    """Return one row per cell (the distinct values of ``by``) with ``CELL_COLUMNS``.

    ``summary`` has one row per run: ``status`` and the run metrics ``whale_hunts``,
    ``whale_hunts_succeeded``, ``whale_pushed_usd``, ``whale_forced_usd`` and
    ``whale_pnl_usd`` (``scenarios.sweep.runs.run_metrics``); failed runs are left out. The
    bootstrap draws from ``numpy.random.default_rng(seed)``, cell by cell in table order.
    """
    ok = summary[summary["status"] == "ok"]
    rng = np.random.default_rng(seed)
    rows = []
    for key, runs in ok.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        hunts = runs["whale_hunts"].to_numpy(np.float64)
        won = runs["whale_hunts_succeeded"].to_numpy(np.float64)
        pushed = runs["whale_pushed_usd"].to_numpy(np.float64)
        forced = runs["whale_forced_usd"].to_numpy(np.float64)
        rate = ratio_interval(won, hunts, rng, n_boot)
        cascade = ratio_interval(forced, pushed, rng, n_boot)
        pnl = mean_interval(runs["whale_pnl_usd"].to_numpy(np.float64), rng, n_boot)
        rows.append((*key, len(runs), int(hunts.sum()), int(won.sum()), *rate,
                     float(pushed.sum()), float(forced.sum()), *cascade, *pnl))
    return pd.DataFrame(rows, columns=[*by, *CELL_COLUMNS])


def grid_figure(cells: pd.DataFrame, path: str | Path) -> Path:
    """Write the success rate against crowding, one line per trigger and resilience, one
    panel per index; bars are the 95 % intervals, the small numbers the hunts behind each
    rate. Return the path."""
    order = [c for c in CROWDING.values() if c in set(cells["crowding"])]
    panels = list(dict.fromkeys(cells["index"]))
    fig = new_figure((5.0 * len(panels), 4.0))
    x = np.arange(len(order))
    for k, index in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        sub = cells[cells["index"] == index]
        for j, ((trigger, resilience), line) in enumerate(sub.groupby(["trigger", "resilience"])):
            line = line.set_index("crowding").reindex(order)
            offset = (j - 1.5) * 0.05
            rate = line["success_rate"].to_numpy(np.float64)
            err = np.vstack([rate - line["success_low"], line["success_high"] - rate])
            bars = ax.errorbar(x + offset, rate, yerr=np.nan_to_num(err), marker="o",
                               capsize=3, linestyle="-" if trigger == "mark" else "--",
                               label=f"{trigger} trigger, {resilience} refill")
            for xi, yi, n in zip(x + offset, rate, line["hunts"], strict=True):
                if np.isfinite(yi):  # how many hunts the rate is made of
                    ax.annotate(f"{int(n)}", (xi, yi), textcoords="offset points",
                                xytext=(4, 4), fontsize=6, color=bars[0].get_color())
        ax.set_xticks(x, [f"{c}\ncrowding" for c in order])
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("hunts that succeeded")
        ax.set_title(f"index: {index}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    return save(fig, path)


def markdown_cells(cells: pd.DataFrame) -> str:
    """Return the cell table as Markdown: rates and multipliers with their intervals."""
    def interval(v, lo, hi, fmt, missing="no hunt"):
        return missing if not np.isfinite(v) else f"{fmt(v)} ({fmt(lo)}-{fmt(hi)})"

    lines = ["| crowding | trigger | resilience | index | runs | hunts | success | "
             "cascade multiplier | whale PnL per run (USD) |", "|---" * 9 + "|"]
    for r in cells.itertuples(index=False):
        cascade = interval(r.cascade_multiplier, r.cascade_low, r.cascade_high, _x,
                           "no push" if r.hunts else "no hunt")
        lines.append(
            f"| {r.crowding} | {r.trigger} | {r.resilience} | {r.index} | {r.runs} | "
            f"{r.hunts} | {interval(r.success_rate, r.success_low, r.success_high, _pct)} | "
            f"{cascade} | "
            f"{interval(r.pnl_per_run, r.pnl_low, r.pnl_high, _usd)} |")
    return "\n".join(lines) + "\n"


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def _x(v: float) -> str:
    return f"{v:.2f}"


def _usd(v: float) -> str:
    return f"{v:,.0f}"


__all__ = ["CELL_COLUMNS", "GRID_CELL", "cell_table", "grid_figure", "grid_labels",
           "markdown_cells", "mean_interval", "ratio_interval"]
