"""Figures of a run and of a study: liquidation heatmaps, market panels, magnet lift, outcomes.

Every function takes plain arrays / DataFrames and returns a ``matplotlib.figure.Figure`` (or
draws on a given ``Axes``); :func:`save` writes one to PNG. The backend is Agg, so figures
render without a display, in worker processes too.

The heatmap follows the look of the public dashboards (Coinglass, Hyblock): time on x, price on
y, a dark background that brightens with the notional per bin under a power norm (gamma 0.5,
so the tails stay visible next to the peaks), the price line on top. Longs and shorts are drawn
in two colour maps (longs 'inferno', shorts a black-blue-green map) added into one RGB image, so
the two sides stay apart where they overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.patheffects as path_effects
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, PowerNorm
from matplotlib.figure import Figure

# Figures are built on Figure objects with an Agg canvas, never through pyplot's global state,
# so they render in worker processes and are freed when dropped; Agg is also pyplot's backend
# for anyone who imports it after this module.
matplotlib.use("Agg")

LONG_CMAP = matplotlib.colormaps["inferno"]
SHORT_CMAP = LinearSegmentedColormap.from_list(
    "liq_short", ["#000000", "#08306b", "#1d6fa5", "#2bb3a3", "#b6f2a2"])
LONG_COLOR = "#ff8c1a"
"""Long liquidations (markers, bars): the warm end of the long map."""
SHORT_COLOR = "#37c8d8"
"""Short liquidations: the cool end of the short map."""
PRICE_COLOR = "#ffffff"
OUTCOME_COLORS = {"untouched": "#9e9e9e", "bounced": "#4c9be8", "swept": "#d94a4a",
                  "cascade": "#f2a33a", "pierced": "#8e6cc2"}
GAMMA = 0.5

__all__ = ["heatmap_figure", "lift_figure", "new_figure", "outcome_figure", "plot_heatmap",
           "realism_compare_figure", "save", "scale_legend", "side_by_side_figure"]


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` (PNG, parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor=fig.get_facecolor())
    return path


def new_figure(size: tuple[float, float]) -> Figure:
    """Return an empty figure of ``size`` inches on its own Agg canvas."""
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _hours(t: np.ndarray) -> np.ndarray:
    return np.asarray(t, dtype=np.float64) / 3600.0


def heatmap_scale(heatmap: Mapping[str, np.ndarray], quantile: float = 0.995) -> float:
    """Return the top of the colour scale: the ``quantile`` of the positive cells of both sides.

    A quantile instead of the maximum keeps one huge bin from darkening the rest of the map.
    """
    cells = np.concatenate([np.asarray(heatmap["long"], np.float64).ravel(),
                            np.asarray(heatmap["short"], np.float64).ravel()])
    cells = cells[cells > 0]
    return float(np.quantile(cells, quantile)) if len(cells) else 1.0


def heatmap_rgb(long_usd: np.ndarray, short_usd: np.ndarray, vmax: float,
                gamma: float = GAMMA) -> np.ndarray:
    """Return the (P, T, 3) image of a map: each side through its colour map, added, clipped.

    Both colour maps start at black, so a cell with one side only shows that side's colour.
    """
    norm = PowerNorm(gamma=gamma, vmin=0.0, vmax=max(vmax, 1e-12), clip=True)
    rgb = (LONG_CMAP(norm(np.asarray(long_usd, np.float64).T))[..., :3]
           + SHORT_CMAP(norm(np.asarray(short_usd, np.float64).T))[..., :3])
    return np.clip(rgb, 0.0, 1.0)


def price_window(edges: np.ndarray, price: np.ndarray, margin_frac: float = 0.03
                 ) -> tuple[float, float]:
    """Return the y-range to show: the price's range widened by its width or ``margin_frac``.

    The recorded grid spans far more than the price travels; showing all of it would squeeze
    the clusters near the price into a few pixels. Clipped to the grid.
    """
    lo_grid, hi_grid = float(edges[0]), float(edges[-1])
    price = np.asarray(price, dtype=np.float64)
    price = price[np.isfinite(price)]
    if len(price) == 0:
        return lo_grid, hi_grid
    lo, hi = float(price.min()), float(price.max())
    margin = max(hi - lo, margin_frac * float(np.median(price)))
    return max(lo - margin, lo_grid), min(hi + margin, hi_grid)


def plot_heatmap(ax, heatmap: Mapping[str, np.ndarray], price_t: np.ndarray,
                 price: np.ndarray, *, clusters: pd.DataFrame | None = None,
                 targets: pd.DataFrame | None = None, vmax: float | None = None,
                 price_color: str = PRICE_COLOR, ylim: tuple[float, float] | None = None,
                 title: str | None = None) -> float:
    """Draw a liquidation map on ``ax`` (hours on x, USD on y); return the scale's top (USD).

    Args:
        ax: the axes.
        heatmap: ``t`` (T), ``price_edges`` (P+1), ``long`` and ``short`` (T x P), USD per bin.
        price_t, price: the price line (s, USD); may be empty.
        clusters: optional ``t``, ``side``, ``centre`` rows, marked (longs ^, shorts v).
        targets: optional ``t``, ``centre`` rows (e.g. a whale's targets), marked x.
        vmax: top of the colour scale (default :func:`heatmap_scale`).
        price_color: the price line's colour.
        ylim: the price range shown (default :func:`price_window`).
        title: the axes title.
    """
    t = np.asarray(heatmap["t"], dtype=np.float64)
    edges = np.asarray(heatmap["price_edges"], dtype=np.float64)
    vmax = heatmap_scale(heatmap) if vmax is None else vmax
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 60.0
    t_lo = t[0] if len(t) else 0.0
    t_hi = t[-1] + dt if len(t) else dt
    ax.set_facecolor("black")
    if len(t):
        ax.imshow(heatmap_rgb(heatmap["long"], heatmap["short"], vmax), origin="lower",
                  aspect="auto", interpolation="nearest",
                  extent=(t_lo / 3600.0, t_hi / 3600.0, edges[0], edges[-1]))
    if clusters is not None and len(clusters):
        for side, marker, color in (("long", "^", LONG_COLOR), ("short", "v", SHORT_COLOR)):
            rows = clusters[clusters["side"] == side]
            ax.scatter(_hours(rows["t"]), rows["centre"], s=14, marker=marker,
                       facecolors="none", edgecolors=color, linewidths=0.7, alpha=0.85,
                       label=f"{side} cluster", zorder=3)
    if targets is not None and len(targets):
        ax.scatter(_hours(targets["t"]), targets["centre"], s=40, marker="x", color="#ff3df5",
                   linewidths=1.4, label="whale target", zorder=4)
    if len(price_t):
        ax.plot(_hours(price_t), price, color=price_color, linewidth=1.3, label="price",
                zorder=5, path_effects=[path_effects.Stroke(linewidth=2.6, foreground="black"),
                                        path_effects.Normal()])
    ax.set_xlim(t_lo / 3600.0, t_hi / 3600.0)
    ax.set_ylim(*(ylim if ylim is not None else price_window(edges, price)))
    ax.set_ylabel("price (USD)")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    if title:
        ax.set_title(title, fontsize=10)
    return vmax


def usd_label(value: float) -> str:
    """Return a short USD label: 950, 12k, 1.5m, 2b."""
    for scale, suffix in ((1e9, "b"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def scale_legend(cax, vmax: float, gamma: float = GAMMA) -> None:
    """Draw the two colour maps as columns on ``cax`` (L = longs, S = shorts), USD ticks."""
    norm = PowerNorm(gamma=gamma, vmin=0.0, vmax=max(vmax, 1e-12))
    ramp = np.linspace(0.0, 1.0, 256)
    image = np.stack([LONG_CMAP(ramp)[:, :3], SHORT_CMAP(ramp)[:, :3]], axis=1)
    cax.imshow(image, origin="lower", aspect="auto", extent=(0.0, 2.0, 0.0, 1.0))
    values = vmax * np.array([0.0, 0.02, 0.1, 0.25, 0.5, 0.75, 1.0])
    cax.set_yticks(norm(values), [usd_label(v) for v in values])
    cax.yaxis.tick_right()
    cax.set_xticks([0.5, 1.5], ["L", "S"])
    cax.tick_params(labelsize=7, length=2)
    cax.set_title("USD\nper bin", fontsize=7)


def _bar_sums(t: np.ndarray, values: np.ndarray, width_s: float) -> tuple[np.ndarray, ...]:
    k = np.floor(np.asarray(t, np.float64) / width_s).astype(np.int64)
    sums = pd.Series(np.asarray(values, np.float64)).groupby(k).sum()
    return sums.index.to_numpy() * width_s, sums.to_numpy()


def heatmap_figure(heatmap: Mapping[str, np.ndarray], series: pd.DataFrame, *,
                   clusters: pd.DataFrame | None = None, targets: pd.DataFrame | None = None,
                   price_column: str = "last",
                   funding_column: str | None = "predicted_funding_rate",
                   interest_rate: float | None = None, funding_interval_s: float | None = None,
                   price_color: str = PRICE_COLOR, title: str | None = None) -> Figure:
    """Return the heatmap with funding, open-interest and liquidation panels under it.

    The four panels share the time axis (hours). Funding is in % per funding interval
    (``funding_interval_s``, named on the axis when given): the settled rate (steps) and, when
    ``funding_column`` is in ``series``, the rate the interval so far would settle at (as the
    run recorded it); the dashed line is the run's ``interest_rate``, when given. OI is the
    notional in USD millions. Liquidations are USD (size x mark) per bar, longs up, shorts down.
    """
    fig = new_figure((12, 9.5))
    grid = fig.add_gridspec(4, 2, width_ratios=[60, 1.2], height_ratios=[4.2, 1, 1, 1.1],
                            hspace=0.08, wspace=0.02, left=0.08, right=0.93, top=0.95,
                            bottom=0.06)
    ax_map = fig.add_subplot(grid[0, 0])
    axes = [ax_map] + [fig.add_subplot(grid[i, 0], sharex=ax_map) for i in (1, 2, 3)]
    _, ax_fund, ax_oi, ax_liq = axes
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    s = series
    t = s["t"].to_numpy(np.float64)
    price = s[price_column].ffill()
    if "mid" in s.columns:
        price = price.fillna(s["mid"].ffill())
    ok = price.notna().to_numpy()
    vmax = plot_heatmap(ax_map, heatmap, t[ok], price.to_numpy(np.float64)[ok],
                        clusters=clusters, targets=targets, price_color=price_color,
                        title=title)
    handles, labels = ax_map.get_legend_handles_labels()
    if handles:
        ax_map.legend(handles, labels, loc="upper left", fontsize=7, framealpha=0.6,
                      markerscale=1.5, ncols=len(handles))
    scale_legend(fig.add_subplot(grid[0, 1]), vmax)
    th = _hours(t)
    if len(s):
        ax_fund.step(th, 100.0 * s["funding_rate"].to_numpy(np.float64), where="post",
                     color="#555555", linewidth=1.0, label="settled")
        if funding_column and funding_column in s.columns:
            ax_fund.plot(th, 100.0 * s[funding_column].to_numpy(np.float64), color="#c0392b",
                         linewidth=0.9, label="predicted")
        if interest_rate is not None:
            ax_fund.axhline(100.0 * interest_rate, color="#888888", linestyle="--",
                            linewidth=0.7)
        ax_fund.legend(loc="upper left", fontsize=7, ncols=2)
        ax_oi.plot(th, s["oi_notional"].to_numpy(np.float64) / 1e6, color="#2c3e50",
                   linewidth=1.0)
        duration = max(float(t[-1] - t[0]), 60.0)
        width = max(60.0, 60.0 * np.ceil(duration / 300.0 / 60.0))
        mark = s["mark"].ffill().bfill().to_numpy(np.float64)
        for column, sign, color, label in (("liq_long_qty", 1.0, LONG_COLOR, "longs"),
                                           ("liq_short_qty", -1.0, SHORT_COLOR, "shorts")):
            x, y = _bar_sums(t, s[column].fillna(0.0).to_numpy(np.float64) * mark, width)
            ax_liq.bar(_hours(x), sign * y / 1e6, width=width / 3600.0, align="edge",
                       color=color, label=label)
        ax_liq.axhline(0.0, color="#444444", linewidth=0.6)
        ax_liq.legend(loc="upper left", fontsize=7, ncols=2)
    per = f"{funding_interval_s / 3600.0:g} h" if funding_interval_s else "interval"
    ax_fund.set_ylabel(f"funding\n% / {per}", fontsize=8)
    ax_oi.set_ylabel("OI\nUSD m", fontsize=8)
    ax_liq.set_ylabel("liquidated\nUSD m", fontsize=8)
    ax_liq.set_xlabel("time (hours)")
    for ax in axes[1:]:
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
    return fig


def side_by_side_figure(true_map: Mapping[str, np.ndarray], est_map: Mapping[str, np.ndarray],
                        price_t: np.ndarray, price: np.ndarray, *,
                        price_color: str = PRICE_COLOR, title: str | None = None) -> Figure:
    """Return the true map and the public estimate side by side, on one price range.

    Each map has its own colour scale (the estimate's level rests on its assumed leverage mix
    and position sizes; where it puts the density is what is compared).
    """
    fig = new_figure((13, 5.2))
    grid = fig.add_gridspec(1, 4, width_ratios=[30, 1, 30, 1], wspace=0.15, left=0.07,
                            right=0.95, bottom=0.1)
    ax_true = fig.add_subplot(grid[0, 0])
    ax_est = fig.add_subplot(grid[0, 2], sharey=ax_true)
    ylim = price_window(np.asarray(true_map["price_edges"]), price)
    for ax, cax, heat, name in ((ax_true, grid[0, 1], true_map, "true map (open positions)"),
                                (ax_est, grid[0, 3], est_map,
                                 "public estimate (candles, OI, taker volume)")):
        vmax = plot_heatmap(ax, heat, price_t, price, price_color=price_color, ylim=ylim,
                            title=name)
        scale_legend(fig.add_subplot(cax), vmax)
    ax_est.tick_params(labelleft=False)
    ax_est.set_ylabel("")
    for ax in (ax_true, ax_est):
        ax.set_xlabel("time (hours)")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


LIFT_AXIS_FLOOR = 0.05  # the lowest lift the log axis shows


def lift_figure(lift: pd.DataFrame, *, group: str = "group", title: str | None = None
                ) -> Figure:
    """Return the magnet lift by distance bucket, one series per ``group``, with intervals.

    ``lift`` holds ``magnet_lift`` rows (``bucket``, ``lift``, ``lift_lo``, ``lift_hi``) and
    a ``group`` column (one series when absent). The dashed line at 1 is "no magnet". A lift
    is a ratio, so the axis is logarithmic (a lift of 2 and one of 1/2 sit as far from 1); a
    lift of 0 (no touch) is left out and interval ends below ``LIFT_AXIS_FLOOR`` are drawn
    there.
    """
    fig = new_figure((8, 4.5))
    ax = fig.subplots()
    frame = lift if group in lift.columns else lift.assign(**{group: "run"})
    buckets = list(dict.fromkeys(frame["bucket"]))
    names = list(dict.fromkeys(frame[group]))
    spread = 0.7 / max(len(names), 1)
    for i, name in enumerate(names):
        rows = frame[frame[group] == name].set_index("bucket").reindex(buckets)
        x = np.arange(len(buckets)) + (i - (len(names) - 1) / 2) * spread
        y = rows["lift"].to_numpy(np.float64)
        y = np.where(y > 0, y, np.nan)
        low_end = np.maximum(rows["lift_lo"].to_numpy(np.float64), LIFT_AXIS_FLOOR)
        lo = np.nan_to_num(y - low_end, nan=0.0)
        hi = np.nan_to_num(rows["lift_hi"].to_numpy(np.float64) - y, nan=0.0)
        ax.errorbar(x, y, yerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt="o", capsize=3,
                    label=str(name))
    ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(buckets)), buckets)
    ax.set_xlabel("distance of the cluster's near edge from the price")
    ax.set_ylabel("magnet lift  P(touch | cluster) / P(touch | matched level)")
    ax.grid(axis="y", alpha=0.3)
    if names:
        ax.legend(fontsize=8)
    ax.set_title(title or "magnet lift with 95 % bootstrap intervals", fontsize=10)
    fig.tight_layout()
    return fig


def outcome_figure(shares: pd.DataFrame, *, group: str = "group",
                   classes: Sequence[str] = tuple(OUTCOME_COLORS), title: str | None = None
                   ) -> Figure:
    """Return stacked bars of outcome shares, one bar per ``group``, with n over each bar.

    ``shares`` holds ``group``, ``outcome``, ``count`` rows (the counts are normalized here).
    """
    fig = new_figure((max(5.0, 1.6 * shares[group].nunique() + 2.5), 4.5))
    ax = fig.subplots()
    counts = shares.pivot_table(index=group, columns="outcome", values="count", aggfunc="sum",
                                fill_value=0, sort=False).reindex(columns=list(classes),
                                                                  fill_value=0)
    n = counts.sum(axis=1).to_numpy(np.float64)
    frac = counts.to_numpy(np.float64) / np.where(n > 0, n, 1.0)[:, None]
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    for j, name in enumerate(counts.columns):
        ax.bar(x, frac[:, j], bottom=bottom, color=OUTCOME_COLORS.get(name), label=name,
               width=0.6)
        bottom += frac[:, j]
    for xi, ni in zip(x, n, strict=True):
        ax.text(xi, 1.01, f"n={int(ni)}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [str(i) for i in counts.index], rotation=15)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of cluster observations")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax.set_title(title or "what happened to the clusters within the horizon", fontsize=10)
    fig.tight_layout()
    return fig


def realism_compare_figure(real: Mapping[str, np.ndarray],
                           simulated: Mapping[str, Sequence[np.ndarray]], max_lag: int = 60
                           ) -> Figure:
    """Return the |r| autocorrelation by lag and the standardized return distribution, real
    files beside each scenario.

    ``real`` maps a file name to its 1-minute log returns (NaN across a gap); ``simulated``
    maps a scenario to one return array per seed. Left: the autocorrelation of |r| at lags
    1..``max_lag`` minutes, a real file's own and a scenario's median over seeds (NaNs are set
    to the mean, as ``analysis.stylized_facts.return_facts`` does). Right: the density of r / std
    (each run or file scaled by its own std, seeds pooled), log y-axis, with the standard
    normal dashed: fat tails lie above it.
    """
    from analysis.stylized_facts import autocorrelation

    def acf_abs(r: np.ndarray) -> np.ndarray:
        a = np.abs(np.asarray(r, dtype=np.float64))
        kept = a[np.isfinite(a)]
        if len(kept) <= max_lag:
            return np.full(max_lag, np.nan)
        return autocorrelation(np.where(np.isfinite(a), a, kept.mean()), max_lag)

    def standardized(r: np.ndarray) -> np.ndarray:
        r = np.asarray(r, dtype=np.float64)
        r = r[np.isfinite(r)]
        return (r - r.mean()) / r.std() if len(r) > 1 and r.std() > 0 else np.zeros(0)

    fig = new_figure((11, 4.5))
    ax_acf, ax_dist = fig.subplots(1, 2)
    lags = np.arange(1, max_lag + 1)
    edges = np.linspace(-10.0, 10.0, 81)
    centres = 0.5 * (edges[1:] + edges[:-1])
    curves = [(f"real: {name}", [r], "black", "-") for name, r in real.items()]
    colors = matplotlib.colormaps["tab10"].colors
    curves += [(f"{name} (median of {len(runs)} seeds)", list(runs), colors[i % 10], "-")
               for i, (name, runs) in enumerate(simulated.items())]
    for j, (label, runs, color, style) in enumerate(curves):
        width = 2.0 if j < len(real) else 1.4
        acfs = np.vstack([acf_abs(r) for r in runs]) if runs else np.zeros((0, max_lag))
        if np.isfinite(acfs).any():
            acf = np.array([np.median(c[np.isfinite(c)]) if np.isfinite(c).any() else np.nan
                            for c in acfs.T])
            ax_acf.plot(lags, acf, color=color, linestyle=style, linewidth=width, label=label)
        pooled = np.concatenate([standardized(r) for r in runs]) if runs else np.zeros(0)
        if len(pooled):
            density, _ = np.histogram(pooled, bins=edges, density=True)
            ax_dist.plot(centres, np.where(density > 0, density, np.nan), color=color,
                         linestyle=style, linewidth=width, drawstyle="steps-mid", label=label)
    ax_acf.axhline(0.0, color="#888888", linewidth=0.8)
    ax_acf.set_xlabel("lag (minutes)")
    ax_acf.set_ylabel("autocorrelation of |r|")
    ax_acf.set_title("volatility clustering: |r| autocorrelation", fontsize=10)
    ax_acf.grid(alpha=0.3)
    if ax_acf.get_legend_handles_labels()[0]:
        ax_acf.legend(fontsize=7)
    ax_dist.plot(centres, np.exp(-0.5 * centres**2) / np.sqrt(2 * np.pi), color="#888888",
                 linestyle="--", linewidth=1.0, label="standard normal")
    ax_dist.set_yscale("log")
    ax_dist.set_ylim(bottom=1e-5)
    ax_dist.set_xlabel("1-minute log return / its std")
    ax_dist.set_ylabel("density")
    ax_dist.set_title("return distribution (log scale)", fontsize=10)
    ax_dist.grid(alpha=0.3)
    ax_dist.legend(fontsize=7)
    fig.tight_layout()
    return fig
