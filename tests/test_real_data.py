"""Real kline and funding files: both kline layouts, gaps, bad files, and `liqsim realism
--compare` / `--compare-funding`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.real_data import KlineFileError, kline_log_returns, read_funding, read_klines
from analysis.stylized_facts import return_facts
from scenarios.cli import main
from scenarios.realism import RealFunding, compare_table, real_funding_facts

T0_MS = 1_748_390_400_000  # 2025-05-28 00:00 UTC
SHARED_WEEK = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
               / "binance_usdm_BTCUSDT_perp_1m_2025-05-28_2025-06-03.csv")


def write_klines(path: Path, close: np.ndarray, minutes: np.ndarray | None = None, *,
                 raw: bool = False) -> Path:
    """Write ``close`` as 1-minute klines at ``minutes`` (0, 1, 2, ... by default): the
    shared file's header layout, or with ``raw`` Binance's 12 columns without a header."""
    minutes = np.arange(len(close)) if minutes is None else np.asarray(minutes)
    lines = [] if raw else ["open_time_ms,open_time_utc,open,high,low,close,volume"]
    for m, c in zip(minutes, close, strict=True):
        t = T0_MS + int(m) * 60_000
        if raw:
            lines.append(f"{t},{c},{c},{c},{c},1.5,{t + 59_999},{1.5 * c},10,0.7,{0.7 * c},0")
        else:
            lines.append(f"{t},2025-05-28T00:00:00Z,{c},{c},{c},{c},1.5")
    path.write_text("\n".join(lines) + "\n")
    return path


def alternating_closes(n: int) -> np.ndarray:
    """Return closes whose log returns alternate +1 bp, -1 bp (n - 1 returns)."""
    r = np.array([1e-4, -1e-4] * n)[: n - 1]
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))


@pytest.mark.parametrize("raw", [False, True], ids=["header", "binance_raw"])
def test_both_layouts_give_the_returns_written(tmp_path, raw):
    # 301 closes, returns +-1 bp alternating (300 of them): std 1 bp, kurtosis -2 (a two-point
    # law), lag-1 autocorrelation -(n-1)/n = -299/300, lag 2 +298/300.
    klines = read_klines(write_klines(tmp_path / "k.csv", alternating_closes(301), raw=raw))
    assert (klines.n_gaps, klines.n_missing_bars) == (0, 0)
    r = kline_log_returns(klines)
    np.testing.assert_allclose(r, [1e-4, -1e-4] * 150, rtol=1e-6)
    facts = return_facts(r)
    assert facts["n_returns_1m"] == 300
    assert facts["std_1m_bp"] == pytest.approx(1.0, rel=1e-6)
    assert facts["excess_kurtosis_1m"] == pytest.approx(-2.0, rel=1e-6)
    assert facts["acf_lag1"] == pytest.approx(-299 / 300, rel=1e-6)
    assert facts["acf_lag2"] == pytest.approx(298 / 300, rel=1e-6)
    # |r| is constant: its autocorrelation is undefined.
    assert np.isnan(facts["acf_abs_lag1"])


def test_a_pareto_tailed_file_gives_its_hill_index(tmp_path):
    # Returns of Pareto(alpha = 3) size (exact quantiles, 1..~20 bp scaled) with random signs:
    # the Hill index of the top 2.5 % of 400 (k = 10) is within 15 % of 3.
    rng = np.random.default_rng(3)
    u = (np.arange(400) + 0.5) / 400
    size = 1e-4 * (1.0 - u) ** (-1.0 / 3.0)
    r = rng.permutation(size) * rng.choice([-1.0, 1.0], 400)
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    facts = return_facts(kline_log_returns(read_klines(write_klines(tmp_path / "p.csv", close))))
    assert facts["hill_tail_index_1m"] == pytest.approx(3.0, rel=0.15)


def test_a_gap_is_counted_and_its_crossing_return_dropped(tmp_path):
    # Minutes 0, 1, 2, then 5, 6: two minutes missing in one gap. Closes 100, 110, 99, 200,
    # 220: the 99 -> 200 return spans the gap and is dropped; the others are kept.
    klines = read_klines(write_klines(tmp_path / "g.csv", np.array([100, 110, 99, 200, 220.0]),
                                      minutes=[0, 1, 2, 5, 6]))
    assert (klines.n_gaps, klines.n_missing_bars) == (1, 2)
    r = kline_log_returns(klines)
    np.testing.assert_allclose(r, [np.log(1.1), np.log(0.9), np.nan, np.log(1.1)])
    assert return_facts(r)["n_returns_1m"] == 3


@pytest.mark.parametrize(("text", "problem"), [
    ("open_time_ms,open,high,low,volume\n1,2,3,4,5\n2,2,3,4,5\n", "no 'close' column"),
    ("time,close\n1,2\n2,3\n", "no open time column"),
    (f"open_time_ms,close\n{T0_MS + 60_000},100\n{T0_MS},101\n", "unsorted open time on line 3"),
    (f"open_time_ms,close\n{T0_MS},100\n{T0_MS},101\n", "duplicate open time on line 3"),
    (f"open_time_ms,close\n{T0_MS},100\n{T0_MS + 60_000},abc\n", "non-numeric 'close' 'abc' "
                                                                "on line 3"),
    (f"open_time_ms,close\n{T0_MS},100\n{T0_MS + 30_000},101\n", "not a whole number of "
                                                                "minutes"),
    (f"open_time_ms,close\n{T0_MS},100\n{T0_MS + 60_000},0\n", "non-positive close on line 3"),
    (f"open_time_ms,close\n{T0_MS},100\n", "at least two are needed"),
    (f"{T0_MS},1,2,3,4\n", "a headerless file must have Binance's 12 kline columns"),
    ("", "is empty"),
])
def test_a_bad_file_is_named_with_its_problem(tmp_path, text, problem):
    path = tmp_path / "bad_klines.csv"
    path.write_text(text)
    with pytest.raises(KlineFileError, match="bad_klines.csv") as info:
        read_klines(path)
    assert problem in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(KlineFileError, match="nowhere.csv: no such file"):
        read_klines(tmp_path / "nowhere.csv")


def test_realism_compare_prints_the_real_column_and_writes_the_figure(tmp_path):
    week = write_klines(tmp_path / "week.csv", alternating_closes(301), raw=True)
    figure = tmp_path / "cmp.png"
    result = CliRunner().invoke(main, ["realism", "calm", "--seeds", "1", "--set",
                                       "duration_s=900", "--compare", str(week),
                                       "--figure", str(figure)])
    assert "real: week.csv" in result.output
    assert "Hill index, top 2.5 % |r|" in result.output
    assert figure.stat().st_size > 0
    # A 15-minute run cannot meet the realism bounds (no funding settlement yet): exit 1, as
    # without --compare; the comparison is still printed, and nothing else went wrong.
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)


def test_realism_compare_on_a_missing_file_exits_2_with_one_line(tmp_path):
    result = CliRunner().invoke(main, ["realism", "calm", "--seeds", "1", "--compare",
                                       str(tmp_path / "nowhere.csv")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"{tmp_path / 'nowhere.csv'}: no such file"]


@pytest.mark.skipif(not SHARED_WEEK.is_file(), reason="../shared/data is not present")
def test_the_shared_week_has_the_facts_its_readme_states():
    facts = return_facts(kline_log_returns(read_klines(SHARED_WEEK)))
    assert facts["n_returns_1m"] == 9998
    assert facts["std_1m_bp"] == pytest.approx(4.7, abs=0.05)
    assert facts["excess_kurtosis_1m"] == pytest.approx(5.6, abs=0.05)
    assert facts["max_abs_acf_lags_1_10"] <= 0.035
    for lag, value in ((1, 0.25), (10, 0.14), (30, 0.12), (60, 0.10)):
        assert facts[f"acf_abs_lag{lag}"] == pytest.approx(value, abs=0.005), lag
    assert facts["hill_tail_index_1m"] == pytest.approx(3.8, abs=0.05)


# ---------------------------------------------------------------------- funding histories

SHARED_FUNDING = SHARED_WEEK.parent / "binance_usdm_BTCUSDT_funding_8h_2020-2023.csv"


def write_funding(path: Path, rates: list[float], column: str = "funding_rate") -> Path:
    """Write ``rates`` one settlement per row, 8 h apart, in the shared file's layout."""
    lines = [f"funding_time_ms,funding_time_utc,{column}"]
    lines += [f"{T0_MS + i * 28_800_000},2025-05-28T00:00:00Z,{r}" for i, r in enumerate(rates)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("column", ["funding_rate", "fundingRate"])
def test_a_funding_history_gives_its_dead_zone_share_tail_and_negative_share(tmp_path, column):
    # 10 settlements: 0.01 % x 6, 0.03 %, 0.08 %, -0.005 %, -0.02 %. At the dead zone 6 / 10;
    # negative 2 / 10; sorted, the 95th percentile sits at 0.95 x 9 = 8.55, between 0.03 %
    # (position 8) and 0.08 % (position 9): 0.03 % + 0.55 x 0.05 % = 0.0575 %.
    rates = [0.0001] * 6 + [0.0003, 0.0008, -0.00005, -0.0002]
    path = write_funding(tmp_path / "funding.csv", rates, column)
    real = real_funding_facts(str(path))
    assert real.n_settlements == 10 and real.name == "funding.csv"
    assert real.facts["funding_dead_zone_share"] == pytest.approx(0.6)
    assert real.facts["funding_negative_share"] == pytest.approx(0.2)
    assert real.facts["funding_p95"] == pytest.approx(0.000575)


@pytest.mark.parametrize("text, problem", [
    ("funding_time_ms,rate\n1,0.0001\n", "no funding rate column"),
    ("funding_time_ms,funding_rate\n", "no settlements"),
    ("funding_time_ms,funding_rate\n1,0.0001\n2,abc\n",
     "non-numeric 'funding_rate' 'abc' on line 3"),
    ("", "is empty"),
])
def test_a_bad_funding_file_is_named_with_its_problem(tmp_path, text, problem):
    path = tmp_path / "bad_funding.csv"
    path.write_text(text)
    with pytest.raises(KlineFileError, match="bad_funding.csv") as info:
        read_funding(path)
    assert problem in str(info.value)


def test_realism_compare_funding_on_a_bad_file_exits_2_before_any_run(tmp_path):
    bad = tmp_path / "funding.csv"
    bad.write_text("funding_time_ms,rate\n1,0.0001\n")
    result = CliRunner().invoke(main, ["realism", "calm", "--seeds", "1",
                                       "--compare-funding", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"{bad}: no funding rate column (expected funding_rate or fundingRate; found "
        "funding_time_ms, rate)"]


def test_compare_table_sets_the_funding_facts_beside_the_real_history():
    table = pd.DataFrame({"scenario": ["regimes", "regimes"], "seed": [0, 1],
                          "funding_dead_zone_share": [0.4, 0.6], "funding_p95": [0.0004, 0.0006],
                          "funding_negative_share": [0.1, 0.3]})
    real = RealFunding("funding.csv", {"funding_dead_zone_share": 0.41, "funding_p95": 0.00062,
                                       "funding_negative_share": 0.135}, 4383)
    out = compare_table(table, [], [real])
    assert list(out["fact"]) == ["funding: share at the dead zone", "funding: 95th percentile",
                                 "funding: share negative"]
    # The median of two seeds is their mean: (0.4 + 0.6) / 2 = 0.5.
    assert out["regimes"][0] == "0.5 (0.4 .. 0.6)"
    assert list(out["real: funding.csv"]) == ["0.41", "0.00062", "0.135"]


@pytest.mark.skipif(not SHARED_FUNDING.is_file(), reason="../shared/data is not present")
def test_the_shared_funding_has_the_figures_the_issue_states():
    real = real_funding_facts(str(SHARED_FUNDING))
    assert real.facts["funding_dead_zone_share"] == pytest.approx(0.41, abs=0.005)
    assert real.facts["funding_p95"] == pytest.approx(0.00062, abs=0.000005)
    assert real.facts["funding_negative_share"] == pytest.approx(0.135, abs=0.0005)
