"""Accuracy of an estimated heatmap against the truth: correlation and top-cluster matching."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.accuracy import (
    ACCURACY_COLUMNS,
    accuracy_table,
    map_accuracy,
    match_clusters,
    pearson,
    top_clusters,
)

EDGES = np.arange(99_000.0, 101_001.0, 100.0)  # 20 bins of 100 USD; mids 99,050 ... 100,950


def _map(long_bins: dict[int, float], short_bins: dict[int, float]) -> dict[str, np.ndarray]:
    long_usd = np.zeros((1, 20))
    short_usd = np.zeros((1, 20))
    for b, v in long_bins.items():
        long_usd[0, b] = v
    for b, v in short_bins.items():
        short_usd[0, b] = v
    return {"t": np.array([60.0]), "price_edges": EDGES, "long": long_usd, "short": short_usd}


def test_pearson_is_one_for_identical_and_affine_maps_and_minus_one_when_negated():
    rng = np.random.default_rng(7)
    a = rng.random((4, 6))
    assert pearson(a, a) == pytest.approx(1.0)
    assert pearson(a, 2.0 * a + 3.0) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)
    assert np.isnan(pearson(a, np.ones_like(a)))  # a flat map has no correlation
    # Hand example: x = (0, 1, 2), y = (0, 1, 0): deviations (−1, 0, 1) and (−1/3, 2/3, −1/3)
    # have dot product 0 -> r = 0.
    assert pearson(np.array([0.0, 1, 2]), np.array([0.0, 1, 0])) == pytest.approx(0.0)


def test_identical_maps_score_perfectly():
    rng = np.random.default_rng(3)
    m = {"t": np.arange(5.0), "price_edges": EDGES,
         "long": rng.random((5, 20)), "short": rng.random((5, 20))}
    got = map_accuracy(m, m, k=3)
    assert got["pearson_long"] == pytest.approx(1.0)
    assert got["pearson_combined"] == pytest.approx(1.0)
    assert got["precision"] == 1.0 and got["recall"] == 1.0
    assert got["centre_error_usd"] == 0.0
    assert got["n_true"] == got["n_est"] == got["n_matched"] > 0


def test_top_clusters_are_smoothed_local_maxima_largest_first():
    row = np.array([[0.0, 4, 0, 0, 1, 1, 1, 0]])
    edges = np.arange(9.0) * 100.0  # mids 50, 150, ..., 750
    # Weights 1/4, 1/2, 1/4: smoothed = (1, 2, 1, 0.25, 0.75, 1, 0.75, 0.25); maxima at bin 1
    # (2.0, mid 150) and bin 5 (1.0, mid 550); no third.
    got = top_clusters(row, edges, k=3, smooth_bins=3)
    np.testing.assert_array_equal(got[0, :2], [150.0, 550.0])
    assert np.isnan(got[0, 2])
    assert np.isnan(top_clusters(np.zeros((1, 8)), edges, k=2)).all()


def test_match_clusters_pairs_nearest_first_one_to_one_within_tolerance():
    # Both estimates lie 10 from the single true centre: one match, error 10.
    assert match_clusters(np.array([100_000.0]), np.array([100_010.0, 99_990.0]),
                          0.001) == (1, 2, 1, 10.0, 10.0 / 100_000)
    # 100,120 is 120 from 100,000 and 80 from 100,200: paired with the nearer one.
    nt, ne, nm, err, _ = match_clusters(np.array([100_000.0, 100_200.0]), np.array([100_120.0]),
                                        0.005)
    assert (nt, ne, nm, err) == (2, 1, 1, pytest.approx(80.0))
    # Out of tolerance: 0.001 × 100,000 = 100 < 150.
    assert match_clusters(np.array([100_000.0]), np.array([100_150.0]), 0.001)[2] == 0


def test_precision_and_recall_on_a_hand_built_pair():
    # True: long peaks at bins 2, 10, 17 (mids 99,250, 100,050, 100,750); short at bin 5
    # (99,550). Estimate: long at bins 3 (99,350) and 13 (100,350); short at 5 and 8 (99,850).
    true_map = _map({2: 10.0, 10: 5.0, 17: 3.0}, {5: 4.0})
    est_map = _map({3: 8.0, 13: 6.0}, {5: 2.0, 8: 1.0})
    got = map_accuracy(true_map, est_map, k=3, price_tolerance=0.0015, smooth_bins=1)
    # Tolerance 0.15 %: about 149-151 USD. Matches: long 99,350 ~ 99,250 (100 away) and short
    # 99,550 = 99,550 (0 away). 100,350 is 300 and 400 from the true long peaks; 99,850 is 300
    # from the true short: unmatched. 4 true, 4 estimated, 2 matched.
    assert (got["n_true"], got["n_est"], got["n_matched"]) == (4, 4, 2)
    assert got["precision"] == pytest.approx(0.5)
    assert got["recall"] == pytest.approx(0.5)
    assert got["centre_error_usd"] == pytest.approx(50.0)  # (100 + 0) / 2
    assert got["centre_error_frac"] == pytest.approx((100.0 / 99_250) / 2)


def test_accuracy_table_has_one_row_per_run():
    true_map = _map({2: 10.0, 10: 5.0, 17: 3.0}, {5: 4.0})
    est_map = _map({3: 8.0, 13: 6.0}, {5: 2.0, 8: 1.0})
    table = accuracy_table([(true_map, true_map), (true_map, est_map)], k=3,
                           price_tolerance=0.0015, smooth_bins=1, labels=[11, 12])
    assert list(table.columns) == list(ACCURACY_COLUMNS)
    assert table.index.tolist() == [11, 12]
    assert table.loc[11, "recall"] == 1.0 and table.loc[12, "recall"] == 0.5


def test_maps_on_different_grids_are_refused():
    a = _map({2: 1.0}, {})
    b = dict(a, price_edges=EDGES + 50.0)
    with pytest.raises(ValueError, match="price_edges"):
        map_accuracy(a, b)
