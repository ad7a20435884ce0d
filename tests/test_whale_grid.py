"""The whale grid's summary: pooled rates and run-bootstrap intervals worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.whale_grid import (
    GRID_CELL,
    cell_table,
    grid_figure,
    grid_labels,
    markdown_cells,
    ratio_interval,
)


def summary() -> pd.DataFrame:
    """Two cells (low and high crowding, mark trigger, fast refill, one venue) of two runs
    each, plus a failed run that must be left out."""
    rows = [
        # long_bias, status, hunts, succeeded, pushed, forced, pnl
        (0.5, "ok", 2, 0, 1e6, 0.5e6, -10_000.0),
        (0.5, "ok", 0, 0, 0.0, 0.0, 0.0),
        (0.9, "ok", 3, 2, 2e6, 6e6, 30_000.0),
        (0.9, "ok", 1, 1, 1e6, 1e6, 10_000.0),
        (0.9, "error", 0, 0, 0.0, 0.0, np.nan),
    ]
    table = pd.DataFrame(rows, columns=["agents.retail.long_bias", "status", "whale_hunts",
                                        "whale_hunts_succeeded", "whale_pushed_usd",
                                        "whale_forced_usd", "whale_pnl_usd"])
    table["exchange.liquidation_trigger"] = "mark"
    table["agents.latent_liquidity.refill_s"] = 10
    table["index.spot.basket.venues"] = "[]"
    return table


def test_cells_pool_hunts_over_runs_and_leave_failed_runs_out():
    cells = cell_table(grid_labels(summary()), GRID_CELL, n_boot=500).set_index("crowding")
    low, high = cells.loc["low"], cells.loc["high"]
    assert (low["runs"], low["hunts"], low["succeeded"]) == (2, 2, 0)
    assert low["success_rate"] == 0.0
    assert low["cascade_multiplier"] == pytest.approx(0.5)  # 0.5 M forced / 1 M pushed
    assert low["pnl_per_run"] == pytest.approx(-5_000.0)  # (-10,000 + 0) / 2
    # high: 3 of 4 hunts (2 + 1 of 3 + 1); 7 M forced over 3 M pushed; PnL (30 k + 10 k) / 2
    assert (high["runs"], high["hunts"], high["succeeded"]) == (2, 4, 3)
    assert high["success_rate"] == pytest.approx(0.75)
    assert high["cascade_multiplier"] == pytest.approx(7 / 3)
    assert high["pnl_per_run"] == pytest.approx(20_000.0)
    # Resampling the two runs gives 2/3 (run 1 twice), 3/4 or 1 (run 2 twice): the interval
    # lies within [2/3, 1] and holds the pooled rate.
    assert 2 / 3 - 1e-12 <= high["success_low"] <= 0.75 <= high["success_high"] <= 1.0
    assert (cells.loc["low", "index"], cells.loc["low", "resilience"]) == ("one venue", "fast")


def test_a_cell_without_a_hunt_has_no_rate_not_a_zero():
    rng = np.random.default_rng(0)
    assert all(np.isnan(ratio_interval(np.zeros(3), np.zeros(3), rng, 100)))
    table = summary()
    table.loc[:, "whale_hunts"] = 0
    cells = cell_table(grid_labels(table), GRID_CELL, n_boot=100)
    assert cells["success_rate"].isna().all()
    assert "no hunt" in markdown_cells(cells)


def test_the_same_seed_gives_the_same_intervals_and_the_figure_is_written(tmp_path):
    first = cell_table(grid_labels(summary()), GRID_CELL, n_boot=300, seed=4)
    second = cell_table(grid_labels(summary()), GRID_CELL, n_boot=300, seed=4)
    pd.testing.assert_frame_equal(first, second)
    path = grid_figure(first, tmp_path / "grid.png")
    assert path.stat().st_size > 1000


def test_a_resample_of_runs_without_hunts_is_left_out_of_the_interval():
    # Runs: (1 of 1), (0 of 0): a resample of the second run twice has no rate; the others
    # read 1 of 1 or 2 of 2, so the interval is exactly [1, 1], never NaN.
    rate, low, high = ratio_interval(np.array([1.0, 0.0]), np.array([1.0, 0.0]),
                                     np.random.default_rng(1), 200)
    assert (rate, low, high) == (1.0, 1.0, 1.0)
