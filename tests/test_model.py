"""The market model's stage loop, the recorder and the run directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents import stages
from agents.base import Trader
from sim.exchange import ExchangeConfig
from sim.exchange.codes import BUY, MARKET, SELL
from sim.fundamental import FundamentalProcess
from sim.heatmap import price_edges
from sim.model import MarketModel
from sim.recorder import SERIES_COLUMNS, Recorder
from sim.result import RunResult
from tests.market_builders import LadderMaker


class Taker(Trader):
    """Test-only flow: a market order of 1..10 lots each step, side by coin flip."""

    kind = "taker"
    stage = stages.NOISE

    def __init__(self, model: MarketModel) -> None:
        super().__init__(model)
        self.account = int(self.open_accounts(1, 1e7, 10)[0])

    def act(self) -> None:
        side = BUY if self.model.rng.random() < 0.5 else SELL
        qty = int(self.model.rng.integers(1, 11))
        self.model.perp.submit(self.account, side, MARKET, qty)


class Probe(Trader):
    """Records the stage order in which agents act."""

    kind = "probe"

    def __init__(self, model: MarketModel, stage: int, log: list[int]) -> None:
        self.stage = stage
        super().__init__(model)
        self.log = log

    def act(self) -> None:
        self.log.append(self.stage)


def make_market(seed: int = 7, steps: int = 0) -> tuple[MarketModel, Recorder]:
    model = MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0, jump_rate_per_day=50),
                        seed=seed)
    Taker(model)
    LadderMaker(model, levels=1, spacing_ticks=5, lots=1_000, wallet=1e9, leverage=10)
    recorder = Recorder(model, series_every=10, heatmap_every=30,
                        price_edges=price_edges(100_000.0, 0.2, 100.0), expected_steps=steps)
    for _ in range(steps):
        model.step()
    return model, recorder


def test_agents_act_in_stage_order_not_creation_order():
    model = MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0), seed=1)
    log: list[int] = []
    for stage in (6, 1, 3, 1):
        Probe(model, stage, log)
    model.step()
    assert log == [1, 1, 3, 6]


def test_same_seed_gives_identical_series_and_trades():
    a, rec_a = make_market(seed=11, steps=200)
    b, rec_b = make_market(seed=11, steps=200)
    c, rec_c = make_market(seed=12, steps=200)
    ra, rb, rc = (r.result(m, {}) for r, m in ((rec_a, a), (rec_b, b), (rec_c, c)))
    pd.testing.assert_frame_equal(ra.series, rb.series)
    pd.testing.assert_frame_equal(ra.trades, rb.trades)
    assert not ra.trades.equals(rc.trades)


def test_recorder_rows_and_volume_add_up():
    model, recorder = make_market(steps=100)
    result = recorder.result(model, {})
    # 100 steps at one row per 10 steps -> 10 rows at t = 10, 20, ..., 100.
    assert list(result.series.columns) == list(SERIES_COLUMNS)
    assert result.series["t"].tolist() == [10.0 * k for k in range(1, 11)]
    # Every trade is a fill of the taker against the ladder, recorded once, and each row's
    # volume is the sum of the trades of its ten steps.
    trades = result.trades
    assert len(trades) == 100
    assert (trades["price"] > 0).all()
    per_row = trades.groupby(np.ceil(trades["t"] / 10.0) * 10.0)["qty"].sum()
    np.testing.assert_allclose(result.series.set_index("t")["volume"], per_row, rtol=1e-12)
    # 100 steps, one snapshot per 30 steps -> 3 snapshots (t = 30, 60, 90).
    assert result.heatmap["t"].tolist() == [30.0, 60.0, 90.0]
    assert result.heatmap["long"].shape == (3, len(result.heatmap["price_edges"]) - 1)


def test_heatmap_bins_each_open_position_at_its_liquidation_price():
    model, recorder = make_market(steps=30)
    ex = model.perp
    edges = recorder.edges
    long_map = recorder.heat_long[0]
    taker = next(a for a in model.agents if a.kind == "taker")
    view = ex.account(taker.account)
    assert view.position_lots != 0
    notional = abs(view.position_lots) * ex.config.lot_size * view.entry_price
    row = long_map if view.position_lots > 0 else recorder.heat_short[0]
    b = int(np.floor((view.liquidation_price - edges[0]) / (edges[1] - edges[0])))
    # The taker's position is binned where its liquidation price lies; the ladder's own
    # position (10x on 1e9 of wallet) has its liquidation price far off the grid.
    assert row[b] == pytest.approx(notional)
    assert row.sum() == pytest.approx(notional)


def test_scheduled_action_fires_once_at_its_time_and_is_logged():
    model = MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0, volatility_per_year=0.0),
                        seed=1)
    model.schedule(3.0, "shock", lambda: model.fundamental.shock(np.log(0.9)))
    for _ in range(5):
        model.step()
    # Zero volatility: the only move is the scheduled -10% jump at t = 3.
    assert model.fundamental.price == pytest.approx(90_000.0)
    assert model.events == [(3.0, "schedule", "shock", "")]


def test_run_directory_round_trips_and_refuses_to_overwrite(tmp_path):
    model, recorder = make_market(steps=60)
    result = recorder.result(model, {"scenario": "test"})
    target = result.write(tmp_path / "run")
    loaded = RunResult.load(target)
    pd.testing.assert_frame_equal(loaded.series, result.series)
    pd.testing.assert_frame_equal(loaded.trades, result.trades)
    np.testing.assert_array_equal(loaded.heatmap["long"], result.heatmap["long"])
    assert loaded.manifest["invariants"]["all_passed"] is True
    assert loaded.manifest["invariants"]["checks"] == 3  # t = 30, 60 and the final check
    before = sorted(p.name for p in target.iterdir())
    with pytest.raises(FileExistsError):
        result.write(target)
    assert sorted(p.name for p in target.iterdir()) == before
    # No temporary directory is left beside the run.
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
