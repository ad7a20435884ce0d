"""`liqsim impulse` (``scenarios/impulse.py``) and the ``Metaorder`` agent it adds: the
with/without pair on common random numbers, the notional done, the sign of the response, the
JSON and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from agents.metaorder import Metaorder
from scenarios.cli import main
from scenarios.impulse import impact_targets, response, run_pair, series_table
from scenarios.runner import build_market
from scenarios.schema import load_scenario
from sim.exchange import BUY, LIMIT, SELL
from tests.market_builders import quiet_model

# A small calm market: 10 minutes, a thin crowd; the metaorder works from 2 to 3 minutes.
SHORT = {"duration_s": 600, "agents.retail.count": 50, "agents.noise.count": 5,
         "agents.value.count": 3}
# The CLI's runs last the metaorder plus 4 h: 10 s steps keep them to ~1,500 steps.
COARSE = ("step_s=10", "outputs.series_interval_s=10", "agents.retail.count=20",
          "agents.noise.count=5", "agents.value.count=3")


def _short(seed: int = 2):
    return load_scenario("calm", {**SHORT, "seed": seed})


def test_without_run_is_the_plain_run_and_with_run_shares_the_fundamental():
    sc = _short()
    without, with_ = run_pair(sc, 3_000_000, over_s=60, venue="perp", start_s=120)
    plain = build_market(sc)
    for _ in range(plain.n_steps):
        plain.model.step()
    # The metaorder's absence changes nothing: the same series and trades, byte for byte.
    assert without.recorder.series.tobytes() == plain.recorder.series.tobytes()
    assert (np.concatenate(without.recorder.trades).tobytes()
            == np.concatenate(plain.recorder.trades).tobytes())
    s0, s1 = series_table(without), series_table(with_)
    # Common random numbers: the same news path; the prices part once the metaorder trades.
    np.testing.assert_array_equal(s1["fundamental"], s0["fundamental"])
    before = s0["t"] <= 120
    np.testing.assert_array_equal(s1["last"][before], s0["last"][before])
    assert np.any(s1["last"][~before] != s0["last"][~before])


def test_metaorder_buys_the_notional_asked_within_one_lot_on_a_known_ladder():
    model = quiet_model()  # constant fundamental, exogenous index: nothing else moves
    ex = model.perp
    maker = int(ex.open_accounts(1, 1e10, 10.0)[0])
    ex.submit(maker, SELL, LIMIT, 500, ex.to_ticks(100_010.0))
    ex.submit(maker, SELL, LIMIT, 100_000, ex.to_ticks(100_020.0))
    meta = Metaorder(model, notional_usd=1_000_000, over_s=10, start_s=0, side=BUY)
    model.step()
    # Slice 1 of 10, budget 100,000 USD: the 500 lots at 100.01 USD (50,005 USD), then
    # floor(49,995 / 100.02) = 499 lots at 100.02 USD (49,909.98 USD).
    assert meta.done_lots == 999
    assert meta.done_usd == pytest.approx(50_005.0 + 49_909.98)
    model.run_until(20)
    # All ten slices: 500 + floor((1,000,000 - 50,005) / 100.02) = 500 + 9,498 lots,
    # 5.04 USD short of the target.
    assert meta.slices_done == 10
    assert meta.done_lots == 9_998
    assert meta.done_usd == pytest.approx(50_005.0 + 9_498 * 100.02)
    assert 0 <= 1_000_000 - meta.done_usd < 100.02
    assert ex.position_lots(meta.account) == 9_998


def test_metaorder_sells_the_notional_asked_within_one_lot():
    model = quiet_model()
    ex = model.perp
    maker = int(ex.open_accounts(1, 1e10, 10.0)[0])
    ex.submit(maker, BUY, LIMIT, 100_000, ex.to_ticks(99_990.0))
    meta = Metaorder(model, notional_usd=500_000, over_s=5, start_s=0, side=SELL)
    model.run_until(10)
    # floor(500,000 / 99.99) = 5,000 lots (499,950 USD); the 5,001st would pass the target.
    assert meta.done_lots == 5_000
    assert meta.done_usd == pytest.approx(499_950.0)
    assert ex.position_lots(meta.account) == -5_000


def test_buy_moves_the_last_price_up_and_sell_moves_it_down_on_the_same_seed():
    sc = _short(seed=4)
    peaks = {}
    for side in ("buy", "sell"):
        without, with_ = run_pair(sc, 5_000_000, over_s=60, venue="perp", side=side,
                                  start_s=120)
        sign = BUY if side == "buy" else SELL
        peaks[side] = response(series_table(without), series_table(with_), sign, 120,
                               180)["peak_bp"]["last"]
    assert peaks["buy"] > 0
    assert peaks["sell"] < 0


def test_json_has_exactly_the_issue_keys_and_the_three_prices():
    args = ["impulse", "calm", "--notional", "2000000", "--over", "60", "--venue", "spot",
            "--start-s", "60", "--seeds", "2", "--json"]
    for override in COARSE:
        args += ["--set", override]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)  # exactly one JSON object, nothing else on stdout
    keys = ("notional_usd", "venue", "seeds", "peak_bp", "at_5min_bp", "at_30min_bp",
            "at_4h_bp")
    assert set(keys) <= set(out)
    assert out["notional_usd"] == 2_000_000.0
    assert out["venue"] == "spot"
    assert out["seeds"] == 2
    for key in keys[3:]:
        assert set(out[key]) == {"last", "mark", "index"}
        # The mean over the seeds is the mean of the per-seed values.
        for price in ("last", "mark", "index"):
            per_seed = [row[key][price] for row in out["per_seed"]]
            assert out[key][price] == pytest.approx(np.mean(per_seed))


@pytest.mark.parametrize(("args", "names"), [
    (["nosuch", "--notional", "1e6", "--over", "60", "--venue", "perp"], "nosuch"),
    (["calm", "--notional", "0", "--over", "60", "--venue", "perp"], "--notional"),
    (["calm", "--notional", "-5", "--over", "60", "--venue", "perp"], "--notional"),
    (["calm", "--notional", "1e6", "--over", "0", "--venue", "perp"], "--over"),
    (["calm", "--notional", "1e6", "--over", "60", "--venue", "spot",
      "--set", "index.model=exogenous", "--set", "index.spot.basket.venues=[]"], "--venue spot"),
])
def test_bad_input_exits_2_with_one_line_naming_it(args, names):
    result = CliRunner().invoke(main, ["impulse", *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert names in lines[0]


def test_the_peak_is_sought_up_to_five_minutes_after_the_end():
    # Without: 100 throughout. With: 101 at t = 150 (during a metaorder from 100 to 300 s),
    # 110 at t = 900 (more than PEAK_AFTER_S = 300 s after its end). The peak is the 1 %
    # at t = 150: +100 bp, not the later +1,000 bp print.
    t = np.arange(0.0, 1000.0, 10.0)
    without = {"t": t, **{p: np.full(len(t), 100.0) for p in ("last", "mark", "index")}}
    last = np.full(len(t), 100.0)
    last[t == 150.0] = 101.0
    last[t == 900.0] = 110.0
    with_ = {**without, "last": last}
    out = response(without, with_, 1, 100.0, 300.0)
    assert out["peak_bp"]["last"] == pytest.approx(100.0)
    assert out["peak_t"] == 150.0


def _measured(notional, mark_peak, index_peak=0.0, mark_30min=0.0, venue="perp", side="buy"):
    """An ``impulse_response`` output reduced to what ``impact_targets`` reads."""
    zero = {"last": 0.0, "mark": 0.0, "index": 0.0}
    return {"notional_usd": notional, "venue": venue, "side": side,
            "peak_bp": {"last": mark_peak, "mark": mark_peak, "index": index_peak},
            "at_30min_bp": {**zero, "mark": mark_30min, "index": mark_30min}}


def test_square_root_impact_reads_a_slope_of_one_half_and_linear_impact_misses():
    # Peaks 2, 4, 8 bp at 1, 4, 16 M USD: each 4x in size doubles the peak, so the log-log
    # slope is ln 2 / ln 4 = 0.5 (inside 0.4-0.7); 1, 4, 16 bp is linear, slope 1 (missed).
    root = impact_targets([_measured(n * 1e6, p) for n, p in ((1, 2), (4, 4), (16, 8))])
    assert root["impact_slope"]["value"] == pytest.approx(0.5)
    assert root["impact_slope"]["ok"] is True
    linear = impact_targets([_measured(n * 1e6, p) for n, p in ((1, 1), (4, 4), (16, 16))])
    assert linear["impact_slope"]["value"] == pytest.approx(1.0)
    assert linear["impact_slope"]["ok"] is False


def test_the_slope_is_not_measured_over_less_than_ten_times_in_size():
    # 1 M to 5 M is a 5x range: too narrow for a slope (MIN_SIZE_RANGE = 10).
    out = impact_targets([_measured(1e6, 2.0), _measured(5e6, 4.0)])
    assert out["impact_slope"]["value"] is None
    assert out["impact_slope"]["ok"] is None


def test_reach_and_what_remains_are_read_off_the_largest_size():
    # Largest size: mark peak 10 bp, index peak 8 bp -> reach 0.8 (>= 0.7 ok); the mark 6 bp
    # above the run without 30 min after the end -> 6 / 10 = 0.6 remaining (inside 0.5-0.8).
    # The smaller size (reach 0.1, nothing left) is not read.
    out = impact_targets([_measured(2e6, 5.0, 0.5, 0.0), _measured(20e6, 10.0, 8.0, 6.0)])
    assert out["index_reach"]["value"] == pytest.approx(0.8)
    assert out["index_reach"]["ok"] is True
    assert out["remaining_30min"]["value"] == pytest.approx(0.6)
    assert out["remaining_30min"]["ok"] is True
    # Index 5 of 10 -> 0.5 missed; 1 of 10 left -> 0.1 missed.
    missed = impact_targets([_measured(20e6, 10.0, 5.0, 1.0)])
    assert missed["index_reach"]["ok"] is False
    assert missed["remaining_30min"]["ok"] is False


def test_a_sell_is_measured_in_its_own_direction_and_a_spot_push_by_the_index():
    # A sell: mark peak -10 bp, -7 bp after 30 min -> 0.7 remaining, reach -9 / -10 = 0.9.
    sell = impact_targets([_measured(20e6, -10.0, -9.0, -7.0, side="sell")])
    assert sell["remaining_30min"]["value"] == pytest.approx(0.7)
    assert sell["index_reach"]["value"] == pytest.approx(0.9)
    # A spot push is measured by the index (peak 8, 4 left: 0.5); no reach to measure.
    spot = impact_targets([_measured(20e6, 1.0, 8.0, 4.0, venue="spot")])
    assert spot["remaining_30min"]["value"] == pytest.approx(0.5)
    assert spot["index_reach"]["value"] is None
    # A buy whose peak went down (the push lost to the market) measures nothing.
    against = impact_targets([_measured(20e6, -3.0, -1.0, -2.0)])
    assert against["remaining_30min"]["ok"] is None and against["index_reach"]["ok"] is None


def test_check_exits_1_on_a_missed_target_and_json_lists_every_size(monkeypatch):
    import scenarios.impulse as impulse_module

    def canned(scenario, notional, over_s, venue, seeds, side="buy", start_s=0.0):
        # Linear impact with nothing left after 30 min: slope 1 and remaining 0 both miss.
        row = _measured(notional, notional / 1e6, notional / 1e6, 0.0)
        return {**row, "seeds": seeds, "at_5min_bp": row["at_30min_bp"],
                "at_4h_bp": row["at_30min_bp"], "at_end_bp": row["at_30min_bp"],
                "per_seed": [{"done_usd": notional}]}

    monkeypatch.setattr(impulse_module, "impulse_response", canned)
    args = ["impulse", "calm", "--notional", "1e6", "--notional", "2e7", "--over", "60",
            "--venue", "perp", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [r["notional_usd"] for r in out["responses"]] == [1e6, 2e7]
    assert out["targets"]["impact_slope"]["value"] == pytest.approx(1.0)
    checked = CliRunner().invoke(main, [*args, "--check"])
    assert checked.exit_code == 1
