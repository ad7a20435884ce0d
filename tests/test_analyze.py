"""The analysis pipeline: summary tables from hand-built per-run tables, the run directory it
writes, the report, and `liqsim analyze / report / run --report`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.analyze import (
    WHALE_HUNT_COLUMNS,
    AnalysisConfig,
    NotARunDirectory,
    analysis_is_current,
    analyze_run_dir,
    analyze_runs,
    check_run_dir,
    fit_direction_logit,
    hunt_targets,
    recorded_exchange,
    run_tables,
    summary_tables,
    varying_features,
    whale_figures,
    whale_hunt_table,
)
from analysis.report import (
    findings,
    hunt_report_table,
    lift_finding,
    markdown_table,
    report_runs,
    whale_finding,
)
from scenarios.cli import main
from scenarios.runner import run
from sim.result import HuntRecord, RunResult, hunt_table

SMALL = AnalysisConfig(horizon_s=600.0, reversal_s=300.0, warmup_s=300.0,
                       decision_every_s=300.0, n_boot=200)
SHORT_RUN = ("duration_s=3600", "agents.retail.count=1000", "agents.whale.active_from_s=300",
             "agents.whale.min_cluster_oi_share=0.002", 'agents.whale.heatmap="true"',
             "warm_start.history_s=0", "agents.holders.count=0")  # a cold start: the hunt below


# --- hand-built per-run tables -------------------------------------------------------------

def raw_run(group: str, seed: int, outcomes: list[str], complete: list[bool],
            cluster_touched: list[bool]) -> dict[str, pd.DataFrame]:
    """The per-run tables ``summary_tables`` reads, for one run of ``group``.

    Every outcome row is a long cluster at 0.2 % with high funding and falling OI; the magnet
    levels are all in the 0-0.5 % bucket. Cluster ``i`` has three matched levels, at offsets
    -0.2, 0 and +0.2; the first cluster's is touched at -0.2, the second's at 0, the third's at
    +0.2, the others' nowhere: one touch at each offset.
    """
    n = len(outcomes)
    out = pd.DataFrame({
        "group": group, "seed": seed, "map": "true", "t": 300.0 * np.arange(n),
        "side": "long", "outcome": outcomes, "complete": complete,
        "funding_state": "high", "oi_state": "falling",
    })
    rows = []
    for i, touched in enumerate(cluster_touched):
        rows.append((i, "cluster", 0.0, touched))
        rows.extend((i, "null", u, k == i) for k, u in enumerate((-0.2, 0.0, 0.2)))
    levels = pd.DataFrame(rows, columns=["set", "kind", "offset", "touched"]).assign(
        group=group, seed=seed, run=seed, map="true", t_decision=0.0, t=0.0, side="long",
        distance_pct=0.2, window_s=600.0)
    # Every map needs rows for the per-map tables; the estimated map gets an empty copy.
    both = lambda frame: pd.concat([frame, frame.iloc[:0].assign(map="estimated")])  # noqa: E731
    direction = pd.DataFrame(columns=["group", "map", "distance_pct", "log_notional",
                                      "funding_rate", "oi_change_pct", "prior_move_pct",
                                      "toward"])
    accuracy = pd.DataFrame([{"group": group, "seed": seed, "pearson_long": 0.5,
                              "pearson_short": 0.3, "pearson_combined": 0.4 + 0.1 * seed,
                              "precision": 0.6, "recall": 0.5, "centre_error_usd": 100.0,
                              "centre_error_frac": 0.001}])
    return {"outcomes": both(out), "magnet_levels": both(levels), "direction": direction,
            "accuracy": accuracy, "run": pd.DataFrame([{"group": group, "seed": seed}])}


def two_runs() -> list[dict[str, pd.DataFrame]]:
    # Run 0: 3 untouched + 1 swept with a full horizon, 1 cascade without (not counted);
    # clusters touched 2 of 4. Run 1: 2 cascades + 2 sweeps; clusters touched 4 of 4. In
    # each run one matched level of four is touched at each offset.
    return [
        raw_run("g", 0, ["untouched"] * 3 + ["swept", "cascade"], [True] * 4 + [False],
                [True, True, False, False]),
        raw_run("g", 1, ["cascade", "cascade", "swept", "swept"], [True] * 4, [True] * 4),
    ]


def test_summary_pools_the_runs_of_a_group():
    summary = summary_tables(two_runs(), AnalysisConfig(**{**SMALL.to_dict(), "min_touches": 1}))
    shares = summary["outcome_shares"]
    shares = shares[shares["map"] == "true"].set_index("outcome")
    # 8 outcomes with a full horizon: untouched 3/8, swept 1 + 2 = 3/8, cascade 2/8.
    assert (shares["n"] == 8).all()
    assert shares.loc["untouched", "share"] == pytest.approx(3 / 8)
    assert shares.loc["swept", "share"] == pytest.approx(3 / 8)
    assert shares.loc["cascade", "share"] == pytest.approx(2 / 8)
    assert shares.loc["bounced", "count"] == 0
    lift = summary["magnet_lift"]
    near = lift[(lift["map"] == "true") & (lift["bucket"] == "0-0.5%")].iloc[0]
    # Clusters touched (2 + 4) / 8 = 0.75. Matched levels are touched 2 of 8 at each of the
    # offsets -0.2, 0, +0.2, so the quadratic through them is flat at 0.25: lift 3.
    assert near["p_touch_cluster"] == pytest.approx(0.75)
    assert near["p_touch_null"] == pytest.approx(0.25)
    assert near["lift"] == pytest.approx(3.0)
    assert (near["resampled"], near["n_units"]) == ("runs", 2)


def test_share_intervals_resample_whole_runs():
    shares = summary_tables(two_runs(), SMALL)["outcome_shares"]
    swept = shares[(shares["map"] == "true") & (shares["outcome"] == "swept")].iloc[0]
    # Two runs: a replicate holds run 0 twice (swept 2/8 = 0.25), one of each (3/8) or
    # run 1 twice (4/8 = 0.5), with chances 1/4, 1/2, 1/4: the 2.5 % and 97.5 %
    # percentiles are the extremes.
    assert swept["interval"] == "bootstrap over runs"
    assert swept["share_lo"] == pytest.approx(0.25)
    assert swept["share_hi"] == pytest.approx(0.5)


def test_one_run_per_group_gets_wilson_intervals():
    shares = summary_tables(two_runs()[:1], SMALL)["outcome_shares"]
    swept = shares[(shares["map"] == "true") & (shares["outcome"] == "swept")].iloc[0]
    # 1 of 4, Wilson 95 %: centre (0.25 + 1.9208/4) / (1 + 3.8415/4) = 0.3727, half-width
    # 1.96/1.9604 x sqrt(0.25 x 0.75/4 + 3.8415/64) = 0.3271: 0.0456 .. 0.6999.
    assert swept["interval"] == "wilson"
    assert swept["share_lo"] == pytest.approx(0.0456, abs=1e-3)
    assert swept["share_hi"] == pytest.approx(0.6999, abs=1e-3)


def test_claims_compare_the_state_with_the_rest_of_its_side():
    runs = two_runs()
    # Turn run 1's clusters to normal funding: the state (long, high, falling) is run 0 only.
    runs[1]["outcomes"]["funding_state"] = "normal"
    claims = summary_tables(runs, SMALL)["claims"].set_index("claim")
    cascade = claims.loc["long cluster below, high funding, falling OI -> long cascade"]
    # In the state: run 0's 4 complete rows, no cascade. Otherwise: run 1's 4, 2 cascades.
    assert (cascade["n_state"], cascade["count_state"]) == (4, 0)
    assert (cascade["n_otherwise"], cascade["count_otherwise"]) == (4, 2)
    assert cascade["share_otherwise"] == pytest.approx(0.5)


def test_accuracy_summary_averages_over_the_runs_of_a_group():
    acc = summary_tables(two_runs(), SMALL)["accuracy_summary"].iloc[0]
    # pearson_combined 0.4 and 0.5: mean 0.45, sd sqrt(2 x 0.05^2 / 1) = 0.0707.
    assert acc["pearson_combined_mean"] == pytest.approx(0.45)
    assert acc["pearson_combined_std"] == pytest.approx(0.0707107, abs=1e-6)
    assert acc["pearson_combined_count"] == 2


def test_groups_stay_apart():
    runs = two_runs()
    other = raw_run("h", 0, ["bounced"], [True], [False])
    summary = summary_tables([*runs, other], SMALL)
    shares = summary["outcome_shares"]
    h = shares[(shares["group"] == "h") & (shares["map"] == "true")].set_index("outcome")
    assert h.loc["bounced", "share"] == 1.0 and h.loc["bounced", "n"] == 1
    # 2 groups x 2 maps x 4 distance buckets.
    assert len(summary["magnet_lift"]) == 16


def hunt(**fields) -> HuntRecord:
    """A finished short hunt of a long cluster at 99,000, with ``fields`` changed."""
    row = dict(whale=5, map="true", venue="perp", trigger="mark", side="long", start_t=600.0,
               build_end_t=900.0, push_end_t=1200.0, end_t=1500.0, start_price=100_000.0,
               target_price=99_000.0, target_low=98_900.0, target_high=99_100.0,
               target_notional=3e6, expected_cost=2e6, distance_pct=0.9, oi_notional=2e8,
               max_position_notional=1e7, push_budget_notional=3e7, built_notional=500_000.0,
               pushed_notional=400_000.0, peak_notional=900_000.0,
               stops_triggered_notional=150_000.0, liquidated_notional=900_000.0,
               outcome="target reached", end_reason="position closed", pnl=12_000.0,
               realized_pnl=12_500.0, fees=500.0)
    row.update(fields)
    forced = row["stops_triggered_notional"] + row["liquidated_notional"]
    row["forced_notional"] = forced
    row["cascade_multiplier"] = forced / row["pushed_notional"]
    row["success"] = row["outcome"] == "target reached" and row["pnl"] > 0
    return HuntRecord(**row)


# Two hunts: the first reached its target, the second (a squeeze of a short cluster above)
# spent its push budget and set off stops but no liquidation.
TWO_HUNTS = hunt_table([
    hunt(),
    hunt(side="short", start_t=3600.0, target_price=101_500.0, pushed_notional=600_000.0,
         stops_triggered_notional=50_000.0, liquidated_notional=0.0, outcome="budget spent",
         pnl=-8_000.0),
])


def test_whale_hunt_table_holds_the_recorded_hunts_with_the_runs_identity():
    table = whale_hunt_table(TWO_HUNTS, "whale_hunt", 3)
    assert tuple(table.columns) == WHALE_HUNT_COLUMNS
    assert list(table["group"]) == ["whale_hunt"] * 2 and list(table["seed"]) == [3, 3]
    assert list(table["side"]) == ["long", "short"]
    assert list(table["stops_triggered_notional"]) == [150_000.0, 50_000.0]
    assert list(table["liquidated_notional"]) == [900_000.0, 0.0]
    assert whale_hunt_table(hunt_table([]), "calm", 0).empty


def test_whale_figures_count_the_hunts_and_sum_what_they_set_off():
    # One whale account: realized 5,000 - fees 300 - funding 200 + 2 BTC x (100,500 - 100,000)
    # = 5,500 at the last mark (100,500; the NaN after it is filled forward). The retail
    # account's 70,000 is not the whale's.
    accounts = pd.DataFrame({"agent_type": ["whale", "retail"], "realized_pnl": [5_000.0, 7e4],
                             "fees": [300.0, 0.0], "funding": [200.0, 0.0],
                             "position": [2.0, 0.0], "entry_price": [100_000.0, 0.0]})
    series = pd.DataFrame({"mark": [100_000.0, 100_500.0, np.nan]})
    got = whale_figures(TWO_HUNTS, accounts, series)
    # 2 hunts, 1 reached the target (with a pnl of 12,000 > 0: it succeeded); pushed
    # 400,000 + 600,000; stops 150,000 + 50,000; liquidations 900,000 + 0.
    assert got == {"whale_hunts": 2, "whale_hunts_target_reached": 1, "whale_hunts_succeeded": 1,
                   "whale_pushed_usd": 1_000_000.0, "whale_stops_triggered_usd": 200_000.0,
                   "whale_liquidated_usd": 900_000.0, "whale_pnl_usd": 5_500.0}
    assert np.isnan(whale_figures(TWO_HUNTS, accounts.iloc[1:], series)["whale_pnl_usd"])


def test_hunt_targets_mark_where_and_when_the_whale_aimed():
    targets = hunt_targets(TWO_HUNTS)
    assert targets.to_dict("records") == [
        {"t": 600.0, "centre": 99_000.0, "side": "long"},
        {"t": 3600.0, "centre": 101_500.0, "side": "short"}]


def test_report_shows_the_hunts_one_per_row_or_by_push_outcome():
    one_run = whale_hunt_table(TWO_HUNTS, "g", 0)
    rows = hunt_report_table(one_run, per_hunt=True)
    # start_t 600 s = 0.1667 h and 3600 s = 1 h.
    assert list(rows["start_h"]) == pytest.approx([600 / 3600, 1.0])
    assert list(rows["outcome"]) == ["target reached", "budget spent"]
    assert list(rows["stops_usd"]) == [150_000.0, 50_000.0]
    # (150,000 + 900,000) / 400,000 = 2.625; (50,000 + 0) / 600,000 = 0.0833
    assert list(rows["cascade_multiplier"]) == pytest.approx([2.625, 50_000 / 600_000])
    assert list(rows["success"]) == [True, False]
    # A second run with only the first hunt: two hunts reached the target, one spent its
    # budget. Means per hunt: target reached pushed (400,000 + 400,000) / 2 = 400,000,
    # pnl 12,000; budget spent pushed 600,000, pnl -8,000.
    two_runs_ = pd.concat([one_run, whale_hunt_table(TWO_HUNTS.iloc[:1], "g", 1)])
    by = hunt_report_table(two_runs_, per_hunt=False).set_index("outcome")
    assert by.loc["target reached", "hunts"] == 2 and by.loc["budget spent", "hunts"] == 1
    assert by.loc["target reached", "pushed_usd_mean"] == 400_000.0
    assert by.loc["budget spent", "pnl_usd_mean"] == -8_000.0
    assert by.loc["target reached", "success_mean"] == 1.0


def test_whale_finding_quotes_hunts_stops_and_liquidations():
    series = pd.DataFrame({"mark": [100_000.0]})
    accounts = pd.DataFrame({"agent_type": ["whale"], "realized_pnl": [5_000.0],
                             "fees": [300.0], "funding": [200.0], "position": [0.0],
                             "entry_price": [0.0]})
    runs = pd.DataFrame([{"group": "whale_hunt", "seed": 0,
                          **whale_figures(TWO_HUNTS, accounts, series)}])
    text = whale_finding(runs).text
    # PnL 5,000 - 300 - 200 = 4,500 with no open position.
    assert ("whale_hunt: 2 hunts in 1 run, 1 pushed to the target; the hunts set off "
            "200,000 USD of stops and 900,000 USD of liquidations on the hunted side; PnL "
            "4,500 USD per run, positive in 1 of 1.") in text
    no_hunt = runs.assign(whale_hunts=0)
    assert whale_finding(no_hunt) is None


def test_analysis_config_refuses_an_unknown_key_and_names_it():
    data = {**AnalysisConfig().to_dict(), "horizon_s": 600.0, "typo_key": 1}
    with pytest.raises(ValueError, match=r"unknown analysis setting typo_key; valid settings "
                                         r"are: horizon_s, reversal_s, .*, seed$"):
        AnalysisConfig.from_dict(data)
    with pytest.raises(ValueError, match="settings typo_key, other_typo;"):
        AnalysisConfig.from_dict({"typo_key": 1, "other_typo": 2})
    assert AnalysisConfig.from_dict({"horizon_s": 600.0}) == AnalysisConfig(horizon_s=600.0)
    assert AnalysisConfig.from_dict(SMALL.to_dict()) == SMALL


def test_recorded_exchange_reads_the_funding_rules_of_the_manifest():
    manifest = {"resolved_scenario": {"exchange": {"interest_rate": 0.0003,
                                                   "funding_interval_s": 14_400}}}
    assert recorded_exchange(manifest) == {"interest_rate": 0.0003,
                                           "funding_interval_s": 14_400.0}
    with pytest.raises(ValueError, match=r"records no resolved_scenario\.exchange\."
                                         r"interest_rate"):
        recorded_exchange({"resolved_scenario": {"exchange": {"funding_interval_s": 1.0}}})
    with pytest.raises(ValueError, match="interest_rate"):
        recorded_exchange({"scenario": "calm"})


def test_a_feature_stuck_at_one_value_is_left_out_of_the_logit():
    d = pd.DataFrame({"a": [1.0] * 19 + [2.0], "b": [0.0] * 20, "c": np.arange(20.0)})
    # a: 1 row of 20 off its mode = 5 % -> kept at min_share 0.05; b: none -> dropped.
    assert varying_features(d, ["a", "b", "c"], min_share=0.05) == ["a", "c"]
    assert varying_features(d, ["a", "b", "c"], min_share=0.06) == ["c"]


def test_direction_logit_reports_what_it_left_out():
    rng = np.random.default_rng(0)
    n = 200
    distance = rng.uniform(0, 2, n)
    # Nearer clusters attract: P(toward) = logistic(1 - 1.5 distance).
    toward = (rng.random(n) < 1 / (1 + np.exp(-(1 - 1.5 * distance)))).astype(int)
    d = pd.DataFrame({"distance_pct": distance, "log_notional": rng.normal(14, 1, n),
                      "funding_rate": 0.0001, "oi_change_pct": rng.normal(0, 1, n),
                      "prior_move_pct": rng.normal(0, 0.2, n), "toward": toward})
    table = fit_direction_logit(d).set_index("term")
    assert table["dropped"].iloc[0] == "funding_bps"
    assert np.isnan(table.loc["funding_bps", "coef"])
    assert table.loc["distance_pct", "coef"] < 0 and table.loc["distance_pct", "p_value"] < 0.01
    assert table["n"].iloc[0] == n and bool(table["converged"].iloc[0])
    assert table["toward_share"].iloc[0] == pytest.approx(toward.mean())


def lift_rows(**overrides) -> pd.DataFrame:
    row = {"group": "g", "map": "true", "bucket": "0-0.5%", "n_cluster": 100, "n_null": 2000,
           "p_touch_cluster": 0.6, "p_touch_null": 0.4, "lift": 1.5, "lift_lo": 1.2,
           "lift_hi": 1.8, "n_touch_cluster": 60, "n_touch_null": 800, "verdict": "magnet",
           "n_units": 20, "resampled": "runs"}
    return pd.DataFrame([{**row, **overrides}])


@pytest.mark.parametrize(("overrides", "verdict"), [
    # 20 runs, 60 cluster touches, interval above 1: a magnet.
    ({}, "The interval excludes 1 for g at 0-0.5% (clusters pulled the price)."),
    # Interval below 1: touched less than the matched levels.
    ({"lift": 0.7, "lift_lo": 0.6, "lift_hi": 0.8, "verdict": "repels"},
     "The interval excludes 1 for g at 0-0.5% (clusters were touched less than the levels "
     "beside them)."),
    # Interval covering 1: no effect shown.
    ({"lift_lo": 0.9, "verdict": "no effect"}, "no magnet effect could be shown."),
    # Two runs: a percentile interval of two units is no evidence.
    ({"n_units": 2}, "No bucket had enough to judge"),
    # 5 touches of clusters: the table says too few, and so does the finding.
    ({"p_touch_cluster": 0.05, "n_touch_cluster": 5, "lift": np.nan, "lift_lo": np.nan,
      "lift_hi": np.nan, "verdict": "too few touches"}, "No bucket had enough to judge"),
])
def test_lift_finding_judges_only_buckets_with_enough_evidence(overrides, verdict):
    text = lift_finding({"magnet_lift": lift_rows(**overrides)}, SMALL.to_dict()).text
    assert verdict in text
    assert "P(touch within 10 min" in text


def test_markdown_table_escapes_and_rounds():
    frame = pd.DataFrame({"a": ["x|y"], "b": [1.23456789], "c": [np.nan]})
    assert markdown_table(frame, digits=3).splitlines() == [
        "| a | b | c |", "| --- | --- | --- |", "| x\\|y | 1.23 |  |"]


def test_check_run_dir_names_the_path_and_the_reason(tmp_path):
    with pytest.raises(NotARunDirectory, match="no such directory"):
        check_run_dir(tmp_path / "missing")
    with pytest.raises(NotARunDirectory, match="no manifest.json"):
        check_run_dir(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(NotARunDirectory, match=r"missing series.parquet.*heatmap_true.npz"):
        check_run_dir(tmp_path)


# --- a real (short) run --------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 1-hour whale_hunt with a small crowd, written once for the module."""
    path = tmp_path_factory.mktemp("runs") / "whale"
    run("whale_hunt", seed=1, overrides=SHORT_RUN, out=path)
    return path


@pytest.fixture(scope="module")
def analyzed(run_dir, tmp_path_factory):
    """A copy of ``run_dir`` analyzed with ``SMALL``, and the tables it returned."""
    path = tmp_path_factory.mktemp("analyzed") / "whale"
    shutil.copytree(run_dir, path)
    return path, analyze_run_dir(path, SMALL)


def test_analysis_writes_every_table_twice_and_the_figures(analyzed):
    path, tables = analyzed
    folder = path / "analysis"
    for name in ("clusters", "outcomes", "magnet_levels", "direction", "accuracy",
                 "whale_hunts", "run", "magnet_lift", "outcome_shares", "signals", "claims",
                 "logit", "accuracy_summary"):
        parquet = pd.read_parquet(folder / f"{name}.parquet")
        csv = pd.read_csv(folder / f"{name}.csv")
        assert len(parquet) == len(csv) == len(tables[name]), name
        assert list(parquet.columns) == list(csv.columns), name
    for name in ("heatmap", "true_vs_estimated", "magnet_lift", "magnet_lift_estimated",
                 "outcomes"):
        assert (path / "figures" / f"{name}.png").stat().st_size > 10_000, name
    with np.load(path / "heatmap_est.npz") as est:
        true = RunResult.load(path).heatmap
        assert est["long"].shape == true["long"].shape
        np.testing.assert_array_equal(est["price_edges"], true["price_edges"])
    info = json.loads((folder / "summary.json").read_text())
    assert info["config"] == SMALL.to_dict()
    assert (info["group"], info["seed"]) == ("whale_hunt", 1)
    assert analysis_is_current(path, SMALL)
    assert not analysis_is_current(path, AnalysisConfig())


def test_analysis_reads_the_runs_recorded_hunts_and_funding_rules(analyzed):
    path, tables = analyzed
    result = RunResult.load(path)
    # This run's whale finished one hunt (seed 1, whale active from 300 s).
    assert len(result.hunts) == 1
    hunts = tables["whale_hunts"]
    assert tuple(hunts.columns) == WHALE_HUNT_COLUMNS
    pd.testing.assert_frame_equal(hunts.drop(columns=["group", "seed"]), result.hunts)
    run_row = tables["run"].iloc[0]
    assert run_row["whale_hunts"] == 1
    assert run_row["whale_stops_triggered_usd"] == result.hunts["stops_triggered_notional"].sum()
    assert run_row["whale_liquidated_usd"] == result.hunts["liquidated_notional"].sum()
    exchange = result.manifest["resolved_scenario"]["exchange"]
    assert run_row["interest_rate"] == exchange["interest_rate"]
    assert run_row["funding_interval_h"] == exchange["funding_interval_s"] / 3600.0
    # The funding state is the recorded prediction at the decision time.
    outcomes = tables["outcomes"]
    series = result.series.set_index("t")["predicted_funding_rate"]
    np.testing.assert_array_equal(outcomes["funding_at"], series.loc[outcomes["t"]].to_numpy())


def test_outcome_shares_count_the_complete_outcomes(analyzed):
    _, tables = analyzed
    outcomes = tables["outcomes"]
    assert len(outcomes) > 0
    # Decision times: the first 60 s map snapshot with clusters in each 300 s interval, from
    # the 300 s warm-up on; a horizon of 600 s is complete up to t = 3600 - 600 = 3000.
    times = np.unique(outcomes["t"])
    assert set(times % 60.0) == {0.0} and times.min() >= 300.0
    assert len(np.unique(np.floor(times / 300.0))) == len(times)
    assert (outcomes["complete"] == (outcomes["t"] <= 3000.0)).all()
    shares = tables["outcome_shares"]
    for m in ("true", "estimated"):
        expected = outcomes[(outcomes["map"] == m) & outcomes["complete"]]
        got = shares[shares["map"] == m].set_index("outcome")["count"]
        assert got.sum() == len(expected), m
        for name, count in expected["outcome"].value_counts().items():
            assert got[name] == count, (m, name)


def test_the_analysis_is_deterministic(run_dir):
    result = RunResult.load(run_dir)
    a = run_tables(result, SMALL)
    b = run_tables(result, SMALL)
    for name in ("clusters", "outcomes", "magnet_levels", "direction", "accuracy"):
        pd.testing.assert_frame_equal(a[name], b[name])
    c = run_tables(result, AnalysisConfig(**{**SMALL.to_dict(), "seed": 7}))
    # Another analysis seed draws other matched levels beside the same cluster levels.
    levels_a, levels_c = a["magnet_levels"], c["magnet_levels"]
    assert levels_a[levels_a["kind"] == "cluster"].equals(levels_c[levels_c["kind"] == "cluster"])
    null_a = levels_a.loc[levels_a["kind"] == "null", "distance_pct"].to_numpy()
    null_c = levels_c.loc[levels_c["kind"] == "null", "distance_pct"].to_numpy()
    assert len(null_a) > 0 and not np.array_equal(null_a, null_c)


def test_findings_quote_the_numbers_of_the_tables(analyzed):
    path, tables = analyzed
    runs = pd.DataFrame([json.loads((path / "analysis" / "summary.json").read_text())])
    found = {f.title: f.text for f in findings(tables, runs, SMALL.to_dict())}
    accuracy = tables["accuracy"].iloc[0]
    text = found["How good is the public heatmap?"]
    assert f"correlation {accuracy['pearson_combined']:.2f}" in text
    assert f"precision {100 * accuracy['precision']:.1f} %" in text
    assert "10 min" in found["What happened to the clusters? (outcomes)"]


def test_report_embeds_its_figures(analyzed, tmp_path):
    path, _ = analyzed
    html, md = report_runs([path], SMALL, out_dir=tmp_path / "report")
    page = html.read_text()
    # Two run figures (heatmap, true vs estimated) and three summary figures.
    assert page.count("src='data:image/png;base64,") == 5
    assert "<h3>Do liquidation clusters pull the price? (magnet lift)</h3>" in page
    text = md.read_text()
    assert "## Findings" in text and "| group | map | bucket |" in text
    # The run's one hunt: a finding, and a row of the whale-hunt table (header, rule, row).
    assert "<h3>Did hunting pay?</h3>" in page
    section = text.split("### whale hunts\n\n")[1].split("\n\n")[0].splitlines()
    assert section[0].startswith("| group | start_h | map | side | target |")
    outcome = pd.read_parquet(path / "analysis" / "whale_hunts.parquet")["outcome"].iloc[0]
    assert len(section) == 3 and f"| {outcome} |" in section[2]
    # The Markdown links the run's figures relative to where the report is.
    link = f"](../../{path.parent.name}/{path.name}/figures/heatmap.png)"
    assert link in text


# --- the command line ----------------------------------------------------------------------

def test_analyze_refuses_a_path_that_is_not_a_run_and_writes_nothing(run_dir, tmp_path):
    good = tmp_path / "good"
    shutil.copytree(run_dir, good)
    bad = tmp_path / "not_a_run"
    bad.mkdir()
    result = CliRunner().invoke(main, ["analyze", str(good), str(bad)])
    assert result.exit_code == 2
    assert result.output.strip() == f"{bad}: not a run directory (no manifest.json)"
    assert "Traceback" not in result.output
    assert sorted(p.name for p in good.iterdir()) == sorted(p.name for p in run_dir.iterdir())
    assert not (tmp_path / "combined").exists()


def test_analyze_refuses_a_run_whose_manifest_lacks_the_funding_rules(run_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    del manifest["resolved_scenario"]["exchange"]["interest_rate"]
    (bad / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["analyze", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip() == (f"{bad}: manifest.json records no "
                                     "resolved_scenario.exchange.interest_rate")
    assert not (bad / "analysis").exists()


def test_report_refuses_a_missing_path(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.strip() == f"{tmp_path / 'nope'}: not a run directory (no such directory)"


def test_analyze_two_runs_writes_the_combined_tables(run_dir, tmp_path):
    for name in ("a", "b"):
        shutil.copytree(run_dir, tmp_path / "runs" / name)
    result = CliRunner().invoke(main, ["analyze", str(tmp_path / "runs" / "a"),
                                       str(tmp_path / "runs" / "b"), "--horizon-s", "600"])
    assert result.exit_code == 0, result.output
    combined = tmp_path / "runs" / "combined"
    assert f"wrote the combined tables to {combined}" in result.output
    assert result.output.startswith(f"{tmp_path / 'runs' / 'a'}: whale_hunt seed 1: ")
    runs = pd.read_csv(combined / "runs.csv")
    assert list(runs["run_dir"]) == [str(tmp_path / "runs" / n) for n in ("a", "b")]
    for name in ("magnet_lift", "outcome_shares", "signals", "claims", "logit",
                 "accuracy_summary", "runs", "whale_hunts"):
        assert (combined / f"{name}.parquet").is_file() and (combined / f"{name}.csv").is_file()
    # The same run twice: its one hunt, once per copy.
    hunts = pd.read_parquet(combined / "whale_hunts.parquet")
    assert len(hunts) == 2 * len(RunResult.load(run_dir).hunts) == 2
    assert tuple(hunts.columns) == WHALE_HUNT_COLUMNS
    assert (combined / "figures" / "outcomes.png").is_file()


def test_two_runs_of_one_scenario_resample_runs(run_dir, tmp_path):
    for name in ("a", "b"):
        shutil.copytree(run_dir, tmp_path / name)
    combined = analyze_runs([tmp_path / "a", tmp_path / "b"], SMALL, out_dir=tmp_path / "c")
    lift = combined["magnet_lift"]
    assert set(lift["resampled"]) == {"runs"} and set(lift["n_units"]) == {2}
    # The same run twice: every replicate pools two copies of it, so the interval of a
    # bucket with clusters collapses onto the lift itself.
    some = lift[lift["n_cluster"] > 0]
    assert len(some) > 0
    np.testing.assert_allclose(some["lift_lo"], some["lift"])
    np.testing.assert_allclose(some["lift_hi"], some["lift"])


def test_run_with_report_writes_the_report_into_the_run(tmp_path):
    out = tmp_path / "run"
    args = ["run", "whale_hunt", "--seed", "2", "--out", str(out), "--report",
            "--set", "duration_s=900", "--set", "agents.retail.count=500"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'report.html'} and {out / 'report.md'}" in result.output
    assert (out / "analysis" / "summary.json").is_file()
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
