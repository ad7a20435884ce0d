"""Figures render: files of real size, the price line drawn where it should be, bars and
intervals at the values given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from analysis import figures

MAGENTA = "#ff00ff"  # in neither colour map, nor in the markers: only the price line has it


def synthetic_map(n_snap: int = 60, lo: float = 99_000.0, hi: float = 101_000.0,
                  bin_usd: float = 20.0) -> dict[str, np.ndarray]:
    """A map of 60 one-minute snapshots over 99,000-101,000 in 20 USD bins (100 bins): a long
    band at 99,500-99,600 and a short band at 100,400-100,500, 1 m USD per bin."""
    edges = np.arange(lo, hi + bin_usd / 2, bin_usd)
    long_usd = np.zeros((n_snap, len(edges) - 1))
    short_usd = np.zeros_like(long_usd)
    long_usd[:, 25:30] = 1e6   # bins 25..29 = 99,500..99,600
    short_usd[:, 70:75] = 1e6  # bins 70..74 = 100,400..100,500
    return {"t": 60.0 * np.arange(n_snap), "price_edges": edges, "long": long_usd,
            "short": short_usd}


def flat_series(n: int = 3600, price: float = 100_000.0) -> pd.DataFrame:
    """One row a second at a constant price, with the columns the panels read."""
    t = np.arange(n, dtype=np.float64)
    return pd.DataFrame({
        "t": t, "last": price, "mid": price, "mark": price, "funding_rate": 0.0001,
        "predicted_funding_rate": 0.0001, "oi_notional": 5e6, "liq_long_qty": 0.0,
        "liq_short_qty": 0.0,
    })


def pixels_of(fig, ax, color: str) -> int:
    """Count the pixels of ``color`` inside ``ax``'s box, antialiased onto the black outline.

    The line is stroked over a black outline, so its edge pixels are ``a x color`` for a
    coverage ``a``: a pixel counts when it points in the colour's direction in RGB (cosine
    above 0.99) with at least half its brightness.
    """
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    box = ax.get_window_extent()
    height = image.shape[0]
    # Display coordinates count from the bottom, image rows from the top.
    rows = slice(int(height - box.y1) + 1, int(height - box.y0) - 1)
    cols = slice(int(box.x0) + 1, int(box.x1) - 1)
    target = 255.0 * np.array(to_rgb(color))
    pixels = image[rows, cols].astype(np.float64)
    norm = np.linalg.norm(pixels, axis=-1)
    cosine = pixels @ target / np.maximum(norm * np.linalg.norm(target), 1e-9)
    return int(((cosine > 0.99) & (norm >= 0.5 * np.linalg.norm(target))).sum())


def test_heatmap_figure_draws_the_price_line_across_the_map():
    fig = figures.heatmap_figure(synthetic_map(), flat_series(), price_color=MAGENTA)
    ax_map = fig.axes[0]
    width_px = ax_map.get_window_extent().width
    # A flat line across the whole map, 1.3 pt = 1.8 px thick at 100 dpi: at least one row
    # of line-coloured pixels over the axes' width (less the two edge pixels cut off).
    assert pixels_of(fig, ax_map, MAGENTA) >= 0.9 * width_px


def test_no_price_line_without_a_price():
    series = flat_series().iloc[:0]
    fig = figures.heatmap_figure(synthetic_map(), series, price_color=MAGENTA)
    assert pixels_of(fig, fig.axes[0], MAGENTA) == 0


def test_funding_panel_draws_the_recorded_prediction_and_the_runs_interest_rate():
    # A run with 0.03 % interest per 4 h, predicting 0.05 % (in % on the axis: 0.03, 0.05).
    series = flat_series().assign(predicted_funding_rate=0.0005)
    fig = figures.heatmap_figure(synthetic_map(), series, interest_rate=0.0003,
                                 funding_interval_s=4 * 3600.0)
    ax_fund = fig.axes[1]
    assert ax_fund.get_ylabel() == "funding\n% / 4 h"
    levels = {line.get_label(): set(np.round(line.get_ydata(), 9)) for line in ax_fund.lines}
    assert levels["predicted"] == {0.05}
    assert levels["settled"] == {0.01}
    baselines = [line for line in ax_fund.lines if line.get_linestyle() == "--"]
    assert len(baselines) == 1
    assert list(baselines[0].get_ydata()) == pytest.approx([0.03, 0.03])
    # Without the run's rules: no baseline, and no interval length is claimed.
    bare = figures.heatmap_figure(synthetic_map(), flat_series()).axes[1]
    assert [line for line in bare.lines if line.get_linestyle() == "--"] == []
    assert bare.get_ylabel() == "funding\n% / interval"


def test_side_by_side_draws_the_price_on_both_maps():
    heat = synthetic_map()
    est = {**heat, "long": heat["long"] * 0.5, "short": heat["short"] * 2.0}
    t = np.arange(3600.0)
    fig = figures.side_by_side_figure(heat, est, t, np.full(3600, 100_000.0),
                                      price_color=MAGENTA)
    maps = [ax for ax in fig.axes if ax.get_title().startswith(("true", "public"))]
    assert len(maps) == 2
    for ax in maps:
        assert pixels_of(fig, ax, MAGENTA) >= 0.9 * ax.get_window_extent().width


def test_saved_figures_are_real_pngs(tmp_path):
    lift = pd.DataFrame({"bucket": ["0-0.5%", "0.5-1%"], "lift": [1.2, 0.9],
                         "lift_lo": [1.05, 0.7], "lift_hi": [1.4, 1.1], "group": "calm"})
    shares = pd.DataFrame({"group": "calm", "outcome": ["untouched", "swept"],
                           "count": [3, 1]})
    made = {
        "heatmap": figures.heatmap_figure(synthetic_map(), flat_series()),
        "side": figures.side_by_side_figure(synthetic_map(), synthetic_map(), np.arange(10.0),
                                            np.full(10, 1e5)),
        "lift": figures.lift_figure(lift),
        "outcomes": figures.outcome_figure(shares),
    }
    for name, fig in made.items():
        path = figures.save(fig, tmp_path / "sub" / f"{name}.png")
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 10_000, (name, len(data))


def test_heatmap_rgb_keeps_the_sides_apart_and_the_background_black():
    long_usd = np.array([[0.0, 1e6, 0.0]])
    short_usd = np.array([[0.0, 0.0, 1e6]])
    rgb = figures.heatmap_rgb(long_usd, short_usd, vmax=1e6)
    assert rgb.shape == (3, 1, 3)  # price bins become rows, snapshots columns
    # Zero in both maps: the bottom colours of both maps, inferno's near-black + black.
    np.testing.assert_allclose(rgb[0, 0], figures.LONG_CMAP(0.0)[:3], atol=1e-9)
    # At vmax each side shows its own map's top colour plus the other map's bottom colour.
    np.testing.assert_allclose(rgb[1, 0], np.clip(np.array(figures.LONG_CMAP(1.0)[:3])
                                                  + figures.SHORT_CMAP(0.0)[:3], 0, 1))
    np.testing.assert_allclose(rgb[2, 0], np.clip(np.array(figures.SHORT_CMAP(1.0)[:3])
                                                  + figures.LONG_CMAP(0.0)[:3], 0, 1))


def test_power_norm_brightens_small_values():
    # gamma 0.5: a quarter of the scale sits halfway up the colour map, (1/4)^0.5 = 1/2.
    rgb = figures.heatmap_rgb(np.array([[2.5e5]]), np.array([[0.0]]), vmax=1e6)
    np.testing.assert_allclose(rgb[0, 0], np.clip(np.array(figures.LONG_CMAP(0.5)[:3])
                                                  + figures.SHORT_CMAP(0.0)[:3], 0, 1),
                               atol=5e-3)


def test_price_window_widens_by_the_range_or_three_percent():
    edges = np.array([80_000.0, 120_000.0])
    # Range 99,000..101,000 (2,000) vs 3 % of the median 100,000 (3,000): margin 3,000.
    assert figures.price_window(edges, np.array([99_000.0, 100_000.0, 101_000.0])) == (
        96_000.0, 104_000.0)
    # Range 90,000..110,000 (20,000) beats 3 %: 70,000..130,000, clipped to the grid.
    assert figures.price_window(edges, np.array([90_000.0, 100_000.0, 110_000.0])) == (
        80_000.0, 120_000.0)
    # No price: the whole grid.
    assert figures.price_window(edges, np.array([np.nan])) == (80_000.0, 120_000.0)


def test_lift_figure_draws_each_group_with_its_interval_and_the_line_at_one():
    lift = pd.DataFrame({
        "group": ["calm", "calm", "whale", "whale"],
        "bucket": ["0-0.5%", "0.5-1%", "0-0.5%", "0.5-1%"],
        "lift": [1.0, 0.8, 1.5, np.nan],
        "lift_lo": [0.9, 0.6, 1.2, np.nan], "lift_hi": [1.1, 1.0, 1.9, np.nan],
    })
    fig = figures.lift_figure(lift)
    ax = fig.axes[0]
    assert len(ax.containers) == 2  # one errorbar series per group
    reference = [line for line in ax.get_lines() if list(line.get_ydata()) == [1.0, 1.0]]
    assert len(reference) == 1
    whale = ax.containers[1]
    # The whale's first point: lift 1.5, bar from 1.2 to 1.9.
    assert whale.lines[0].get_ydata()[0] == pytest.approx(1.5)
    segments = whale.lines[2][0].get_segments()
    assert segments[0][:, 1] == pytest.approx([1.2, 1.9])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0-0.5%", "0.5-1%"]


def test_lift_figure_is_logarithmic_and_floors_intervals_that_reach_zero():
    # A lift of 8.8 with an interval from 0 (no touch in some resamples) to 160: on a linear
    # axis every other point would be squashed onto the line at 1.
    lift = pd.DataFrame({"group": ["crowded", "crowded"], "bucket": ["1-2%", "2-5%"],
                         "lift": [1.3, 8.8], "lift_lo": [1.1, 0.0], "lift_hi": [1.7, 160.0]})
    ax = figures.lift_figure(lift).axes[0]
    assert ax.get_yscale() == "log"
    segments = ax.containers[0].lines[2][0].get_segments()
    assert segments[1][:, 1] == pytest.approx([figures.LIFT_AXIS_FLOOR, 160.0])
    assert segments[0][:, 1] == pytest.approx([1.1, 1.7])


def test_outcome_figure_stacks_shares_that_sum_to_one():
    shares = pd.DataFrame({"group": ["a", "a", "b", "b"],
                           "outcome": ["untouched", "swept", "cascade", "swept"],
                           "count": [3, 1, 2, 2]})
    fig = figures.outcome_figure(shares)
    ax = fig.axes[0]
    heights = {}
    for bars in ax.containers:
        for x, patch in enumerate(bars.patches):
            heights[(bars.get_label(), x)] = patch.get_height()
    # a: 3 untouched + 1 swept of 4 -> 0.75, 0.25; b: 2 cascade + 2 swept of 4 -> 0.5, 0.5.
    assert heights[("untouched", 0)] == pytest.approx(0.75)
    assert heights[("swept", 0)] == pytest.approx(0.25)
    assert heights[("cascade", 1)] == pytest.approx(0.5)
    assert heights[("swept", 1)] == pytest.approx(0.5)
    assert heights[("bounced", 0)] == 0.0
    assert [t.get_text() for t in ax.texts] == ["n=4", "n=4"]


def test_usd_labels():
    assert [figures.usd_label(v) for v in (950.0, 12_000.0, 1_500_000.0, 2e9)] == [
        "950", "12k", "1.5m", "2b"]
