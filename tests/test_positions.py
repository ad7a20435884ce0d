"""Tests of ``scenarios.positions`` (``liqsim positions``): the shock figures by hand, and the
command on a short warm run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scenarios.cli import main
from scenarios.positions import shock_figures


def test_the_aftermath_of_a_shock_by_hand():
    # One row a minute for 6 h; the shock at t = 3,600 s. Open interest 100 M before, falling
    # to 80 M at 2 h, back to 90 M at 5 h; the last price 100 before, 95 for the hour after
    # (its low 94 at t = 4,200 s), 96 from then on.
    t = np.arange(0, 6 * 3600 + 1, 60.0)
    oi = np.where(t <= 3600, 100e6, np.where(t < 7200, 90e6, np.where(t < 18_000, 80e6, 90e6)))
    last = np.where(t < 3600, 100.0, np.where(t <= 7200 - 120, 95.0, 96.0))
    last[t == 4200] = 94.0
    series = pd.DataFrame({"t": t, "oi_notional": oi, "last": last})
    liqs = pd.DataFrame({"t": [3700.0, 3800.0, 9000.0], "qty": [10.0, 20.0, 5.0],
                         "mark": [95e3, 95e3, 96e3]})
    got = shock_figures(series, liqs, 3600.0)
    # Before: the hour [0, 3600] at 100 M; the lowest within [3600, 18000] is 80 M: 20 %.
    assert got["oi_before_usd"] == 100e6
    assert got["oi_fall_pct_within_4h"] == pytest.approx(20.0)
    # Hour 1 liquidated (10 + 20) x 95,000 = 2.85 M: 2.85 % of 100 M.
    assert got["max_hourly_liquidations_pct_oi"] == pytest.approx(2.85)
    # The minute before: 100 (rows at 3540 and 3600: 100 and 95 -> mean 97.5); low 94:
    # -3.59 %; an hour after, rows 7140 and 7200: 96, so (96 - 94) / (97.5 - 94) = 0.571.
    assert got["drop_pct"] == pytest.approx(100 * (94 / 97.5 - 1))
    assert got["retraced_after_1h"] == pytest.approx(2 / 3.5)


@pytest.mark.slow
def test_the_command_reports_a_warm_calm_hour_as_json():
    result = CliRunner().invoke(main, ["positions", "calm", "--seeds", "1", "--skip-s", "0",
                                       "--set", "duration_s=1800", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["seed"] == 0
    assert out["oi_first_hour_over_mean"] == pytest.approx(1.0, abs=0.1)  # it starts warm
    assert 0 < out["largest_stop_wall_pct_oi"] < 100
    assert set(out["crowds"]) == {"retail", "holder", "scalper"}


def test_a_shock_after_the_run_is_refused_naming_the_option():
    result = CliRunner().invoke(main, ["positions", "calm", "--shock-s", "1e9"])
    assert result.exit_code == 2
    assert "--shock-s" in result.stderr
