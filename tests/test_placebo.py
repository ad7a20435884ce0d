"""Placebo maps: pairing runs, swapping and shifting maps, and the placebo in the analysis."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.analyze import analyze_runs
from analysis.placebo import placebo_map, placebo_partners, shifted_map
from analysis.report import report_runs
from scenarios.cli import main
from scenarios.runner import run
from tests.test_analyze import SHORT_RUN, SMALL


def _map(n_snapshots: int, edges=(99.0, 100.0, 101.0), offset: float = 0.0) -> dict:
    t = 60.0 * np.arange(n_snapshots)
    long = np.arange(n_snapshots * 2, dtype=np.float64).reshape(n_snapshots, 2) + offset
    return {"t": t, "price_edges": np.array(edges), "long": long, "short": -long}


def test_partners_are_the_next_run_of_the_same_group_cyclically():
    # Groups a, b, a, a, c: a's runs are 0, 2, 3 -> 0 gets 2, 2 gets 3, 3 gets 0; b and c
    # have one run each and get their own map shifted (None).
    assert placebo_partners(["a", "b", "a", "a", "c"]) == [2, None, 3, 0, None]


def test_shifted_map_rolls_the_snapshots_by_half_and_keeps_the_times():
    own = _map(4)
    shifted = shifted_map(own)
    # Snapshot rows 0, 1, 2, 3 -> 2, 3, 0, 1: row k of the shifted map is row (k - 2) mod 4.
    np.testing.assert_array_equal(shifted["long"], own["long"][[2, 3, 0, 1]])
    np.testing.assert_array_equal(shifted["short"], own["short"][[2, 3, 0, 1]])
    np.testing.assert_array_equal(shifted["t"], own["t"])


def test_another_runs_map_on_the_same_grid_is_used_as_it_is():
    own, other = _map(3), _map(3, offset=100.0)
    got, source = placebo_map(own, other, "seed 4")
    np.testing.assert_array_equal(got["long"], other["long"])
    np.testing.assert_array_equal(got["t"], own["t"])
    assert source == "the true map of seed 4"


def test_another_grid_or_length_falls_back_to_the_own_map_shifted():
    own = _map(4)
    # Snapshots 60 s apart over 3 minutes: half the span is 90 s = 0.025 h.
    for other in (_map(4, edges=(98.0, 100.0, 102.0)), _map(5), None):
        got, source = placebo_map(own, other, "seed 4")
        np.testing.assert_array_equal(got["long"], own["long"][[2, 3, 0, 1]])
        assert source == "its own true map shifted by 0.025 h"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two 40-minute whale_hunt runs (seeds 1 and 2), analyzed with a placebo."""
    root = tmp_path_factory.mktemp("placebo")
    paths = [root / f"seed{s}" for s in (1, 2)]
    for seed, path in zip((1, 2), paths, strict=True):
        run("whale_hunt", seed=seed, overrides=SHORT_RUN, out=path)
    config = replace(SMALL, placebo=True)
    combined = analyze_runs(paths, config, out_dir=root / "combined")
    return paths, combined, config


def test_the_analysis_runs_every_test_on_the_placebo_map_too(two_runs):
    paths, combined, _ = two_runs
    lift = combined["magnet_lift"]
    assert set(lift["map"]) == {"true", "estimated", "placebo"}
    assert len(lift[lift["map"] == "placebo"]) == 4  # one group, 4 distance buckets
    assert "placebo" in set(combined["outcome_shares"]["map"])
    assert "placebo" in set(combined["logit"]["map"])
    # Each run got the other's map: seed 1 <- seed 2 and back.
    sources = [pd.read_parquet(p / "analysis" / "run.parquet")["placebo_source"].iloc[0]
               for p in paths]
    assert sources == ["the true map of seed 2 (seed2)", "the true map of seed 1 (seed1)"]
    # The placebo clusters are bands of the partner's true map, laid on this run's path.
    clusters = pd.read_parquet(paths[0] / "analysis" / "clusters.parquet")
    other = pd.read_parquet(paths[1] / "analysis" / "clusters.parquet")
    keys = ["t", "side", "low", "high"]
    mine = clusters[clusters["map"] == "placebo"][keys]
    theirs = set(map(tuple, other[other["map"] == "true"][keys].to_numpy()))
    assert len(mine) > 0
    assert set(map(tuple, mine.to_numpy())) <= theirs


def test_the_report_puts_the_placebo_beside_the_real_tests(two_runs, tmp_path):
    paths, _, config = two_runs
    html, md = report_runs(paths, config, out_dir=tmp_path / "report")
    text = md.read_text()
    assert "Placebo check: the same tests on maps that know nothing" in text
    assert "the true map of seed 2 (seed2)" in text
    assert (tmp_path / "report" / "figures" / "magnet_lift_placebo.png").is_file()


def test_analyze_cli_takes_placebo_and_records_it(two_runs, tmp_path):
    paths, _, _ = two_runs
    result = CliRunner().invoke(main, ["analyze", "--placebo", str(paths[0])])
    assert result.exit_code == 0, result.output
    info = json.loads((paths[0] / "analysis" / "summary.json").read_text())
    assert info["config"]["placebo"] is True
    # One run alone has no partner: its own map, shifted by half of its 40 minutes.
    assert info["placebo_source"].startswith("its own true map shifted by")
