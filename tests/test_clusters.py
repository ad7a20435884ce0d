"""Cluster detection on hand-built heatmaps: bands, centres, notionals, track ids, ATR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clusters import (
    assign_tracks,
    atr_at,
    average_true_range,
    detect_clusters,
    find_bands,
    local_median,
    price_path,
)

# 40 bins of 50 USD from 99,000 to 101,000; bin k spans [99000 + 50k, 99050 + 50k).
EDGES = 99_000.0 + 50.0 * np.arange(41)
BACKGROUND = 1_000.0


def zigzag_series(t_end: int = 180) -> pd.DataFrame:
    # Even seconds 100,000, odd seconds 100,020: every 1-minute bar has high - low = 20 and
    # closes (t = 60, 120, ...) at 100,000, so every true range is 20 and the ATR is 20.
    t = np.arange(1, t_end + 1, dtype=float)
    return pd.DataFrame({"t": t, "last": np.where(t % 2 == 0, 100_000.0, 100_020.0),
                         "mid": 100_010.0})


def synthetic_map() -> dict[str, np.ndarray]:
    long = np.full((3, 40), BACKGROUND)
    short = np.full((3, 40), BACKGROUND)
    # t = 60: a long band in bins 5-7 (100k, 300k, 100k) and a short band in bins 30-31.
    long[0, 5:8] = [100_000.0, 300_000.0, 100_000.0]
    short[0, 30:32] = 400_000.0
    # t = 120: the long band widens to bins 6-10 (overlaps 5-7); the short band jumps to 34-35.
    long[1, 6:11] = 100_000.0
    short[1, 34:36] = 400_000.0
    # t = 180: the long band splits into bins 6-8 (3 bins of overlap) and bin 10 (1 bin);
    # bin 15 is hot but too small; a long band in bin 25 lies above the price (100,000).
    long[2, 6:9] = 100_000.0
    long[2, 10] = 250_000.0
    long[2, 15] = 50_000.0
    long[2, 25] = 300_000.0
    return {"t": np.array([60.0, 120.0, 180.0]), "price_edges": EDGES, "long": long,
            "short": short}


def test_detects_hand_placed_bands_with_centres_notionals_and_tracks():
    found = detect_clusters(synthetic_map(), zigzag_series(), min_notional=200_000.0)
    got = found[["t", "side", "low", "high", "centre", "notional", "track_id"]]
    # Centre of bins 5-7: mids 99275, 99325, 99375 weighted 1:3:1 -> 99325.
    # Bins 6-10 (equal weights) -> the mid of bin 8 = 99425; bins 6-8 -> 99375; bin 10 -> 99525.
    # Tracks: t=60 long 0, short 1 (order: side, then price); t=120 the long band overlaps
    # bins 5-7 -> 0, the short band in 34-35 overlaps nothing -> 2; t=180 the split: 6-8
    # overlaps 6-10 by 3 bins and keeps 0, bin 10 overlaps by 1 and starts track 3.
    expected = pd.DataFrame({
        "t": [60.0, 60.0, 120.0, 120.0, 180.0, 180.0],
        "side": ["long", "short", "long", "short", "long", "long"],
        "low": [99_250.0, 100_500.0, 99_300.0, 100_700.0, 99_300.0, 99_500.0],
        "high": [99_400.0, 100_600.0, 99_550.0, 100_800.0, 99_450.0, 99_550.0],
        "centre": [99_325.0, 100_550.0, 99_425.0, 100_750.0, 99_375.0, 99_525.0],
        "notional": [500_000.0, 800_000.0, 500_000.0, 800_000.0, 300_000.0, 250_000.0],
        "track_id": [0, 1, 0, 2, 0, 3],
    })
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)


def test_cluster_distances_in_percent_and_atr():
    found = detect_clusters(synthetic_map(), zigzag_series(), min_notional=200_000.0)
    first = found.iloc[0]
    # Price at t = 60 is 100,000; centre 99,325 -> 675 USD = 0.675 %; near edge (high)
    # 99,400 -> 0.6 %; ATR 20 -> 675 / 20 = 33.75 ATR. Width 99,400 - 99,250 = 150.
    assert first["price"] == 100_000.0
    assert first["near_edge"] == 99_400.0
    assert first["width"] == 150.0
    assert first["n_bins"] == 3
    assert first["distance_pct"] == pytest.approx(0.675)
    assert first["edge_distance_pct"] == pytest.approx(0.6)
    assert first["atr"] == pytest.approx(20.0)
    assert first["distance_atr"] == pytest.approx(33.75)
    short = found.iloc[1]
    # Short band 100,500-100,600: near edge is the low, 500 USD = 0.5 % above.
    assert short["near_edge"] == 100_500.0
    assert short["edge_distance_pct"] == pytest.approx(0.5)


def test_min_notional_filters_bands():
    found = detect_clusters(synthetic_map(), zigzag_series(), min_notional=400_000.0)
    # Only the 500k and 800k bands pass 400k: the t = 180 bands (300k, 250k) drop out.
    assert list(found["notional"]) == [500_000.0, 800_000.0, 500_000.0, 800_000.0]


def test_band_on_the_wrong_side_of_price_is_left_out():
    # The long band in bin 25 (100,250-100,300) is above the price: longs there are being
    # liquidated now, not a level below; bin 15 (50k) is under min_notional anyway.
    found = detect_clusters(synthetic_map(), zigzag_series(), min_notional=40_000.0)
    t180 = found[found["t"] == 180.0]
    assert list(t180["low"]) == [99_300.0, 99_500.0, 99_750.0]


def test_find_bands_needs_strictly_more_than_the_multiple():
    # Row of 1s with a 3 at bin 3 and 4s at bins 6-7: the local median is 1 everywhere, so 3 is
    # not > 3 x 1 (not hot) and the 4s form one band, bins 6..7.
    row = np.ones((1, 20))
    row[0, 3] = 3.0
    row[0, 6:8] = 4.0
    rows, first, last = find_bands(row, multiple=3.0, window_bins=5)
    assert (list(rows), list(first), list(last)) == ([0], [6], [7])


def test_local_median_is_centred_and_truncated_at_the_ends():
    # Window +/- 1: bin 0 sees [5, 1] -> 3; bin 1 sees [5, 1, 9] -> 5; bin 2 [1, 9, 2] -> 2;
    # bin 3 sees [9, 2] -> 5.5.
    np.testing.assert_allclose(local_median(np.array([[5.0, 1.0, 9.0, 2.0]]), 1),
                               [[3.0, 5.0, 2.0, 5.5]])


def test_sparse_map_zero_median_makes_every_positive_run_a_band():
    # Window +/- 3 over a mostly empty row: every window holds at least 4 zeros of 7, so the
    # local median is 0 and any positive bin is hot.
    row = np.zeros((1, 20))
    row[0, 2] = 5.0
    row[0, 6:9] = 1.0
    rows, first, last = find_bands(row, window_bins=3)
    assert list(zip(first, last, strict=True)) == [(2, 2), (6, 8)]


def test_tracks_need_consecutive_snapshots_and_the_same_side():
    # Snapshot 0: long bins 0-4. Snapshot 1: short bins 0-4 (other side) -> new id.
    # Snapshot 3: long bins 0-4 again, but snapshot 2 is missing -> new id.
    track = assign_tracks(np.array([0, 1, 3]), np.array(["long", "short", "long"]),
                          np.array([0, 0, 0]), np.array([4, 4, 4]))
    assert list(track) == [0, 1, 2]


def test_merge_keeps_the_id_of_the_larger_overlap():
    # Snapshot 0: bands 0-2 (id 0) and 5-9 (id 1). Snapshot 1: one band 1-9 overlaps the
    # first by 2 bins and the second by 5 -> it continues track 1; track 0 ends.
    track = assign_tracks(np.array([0, 0, 1]), np.array(["long"] * 3),
                          np.array([0, 5, 1]), np.array([2, 9, 9]))
    assert list(track) == [0, 1, 1]


def test_wilder_atr_by_hand():
    bars = pd.DataFrame({"high": [10.0, 12.0, 11.0, 15.0], "low": [8.0, 9.0, 10.0, 11.0],
                         "close": [9.0, 11.0, 10.0, 14.0]})
    # TR: 2 (range); max(3, |12-9|, |9-9|) = 3; max(1, |11-11|, |10-11|) = 1;
    # max(4, |15-10|, |11-10|) = 5. n = 2: ATR 2, (2+3)/2 = 2.5, 2.5 + (1-2.5)/2 = 1.75,
    # 1.75 + (5-1.75)/2 = 3.375.
    np.testing.assert_allclose(average_true_range(bars, 2), [2.0, 2.5, 1.75, 3.375])


def test_atr_at_uses_only_closed_bars():
    series = zigzag_series(180)
    # The first bar closes at t = 60: nothing is known at t = 59.
    got = atr_at(series, np.array([59.0, 60.0, 179.0]))
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], [20.0, 20.0])


def test_price_path_fills_missing_last_with_mid():
    series = pd.DataFrame({"t": [1.0, 2.0, 3.0, 4.0], "last": [np.nan, 101.0, np.nan, 99.0],
                           "mid": [100.0, 100.5, 100.2, 99.5]})
    t, p = price_path(series)
    # Row 1 has no trade yet -> mid 100; row 3 keeps the last trade 101.
    np.testing.assert_allclose(p, [100.0, 101.0, 101.0, 99.0])
    np.testing.assert_allclose(t, [1.0, 2.0, 3.0, 4.0])
