"""Cascades in micro-time: trigger passes one at a time, with requotes between them.

The ladder is tests/test_cascade.py's: four isolated longs of 100 lots bought at 100,000 at
100x, 50x, 25x and 10x (liquidation prices 99,397.59, 98,393.57, 96,385.54, 90,361.45; the
trigger is the last price), over a thin bid book. A 10-lot market sell prints 99,300 and sets
off the cascade; all at once it takes every rung, pass after pass.
"""

from __future__ import annotations

import pytest

from agents import stages
from agents.base import Trader
from agents.market_maker import MarketMaker
from agents.params import MarketMakerParams
from sim.exchange import ExchangeConfig
from sim.exchange.codes import BUY, MARKET, SELL, TRIGGER_LAST
from sim.fundamental import FundamentalProcess
from sim.model import MarketModel
from tests.exchange_builders import open_account, rest, trade_at
from tests.market_builders import quiet_model
from tests.test_cascade import BIDS, LEVERAGES


class Pusher(Trader):
    """Sells 10 lots at market in its first step: the print that starts the cascade."""

    kind = "pusher"
    stage = stages.VALUE

    def __init__(self, model: MarketModel) -> None:
        super().__init__(model)
        self.trade_on("perp")
        self.account = open_account(self.exchange, 100_000.0, 2.0)

    def act(self) -> None:
        if self.model.t <= 1.0:
            self.exchange.submit(self.account, SELL, MARKET, 10)


class Refiller(Trader):
    """A stand-in for a maker: between passes it rests 200 lots at 99,000, once."""

    kind = "refiller"
    stage = stages.MAKER

    def __init__(self, model: MarketModel) -> None:
        super().__init__(model)
        self.trade_on("perp")
        self.account = open_account(self.exchange, 1e8, 10.0)
        self.calls: list[float] = []

    def act(self) -> None:
        pass

    def respond_to_cascade(self, elapsed_ms: float) -> None:
        if not self.calls:
            rest(self.exchange, self.account, BUY, 200, 99_000)
        self.calls.append(elapsed_ms)


def _ladder_market(cascade_pass_ms: float) -> tuple[MarketModel, list[int], Refiller]:
    config = ExchangeConfig(liquidation_trigger=TRIGGER_LAST, insurance_fund=5_000.0,
                            initial_price=100_000.0, price_levels=1 << 12)
    model = MarketModel(config, FundamentalProcess(100_000.0, volatility_per_year=0.0),
                        seed=1, cascade_pass_ms=cascade_pass_ms)
    ex = model.perp
    seller = open_account(ex, 1_000_000.0, 2.0)
    rungs = [open_account(ex, 2_000.0, lev) for lev in LEVERAGES]
    for rung in rungs:
        trade_at(ex, rung, seller, 100, 100_000.0)
    bids = open_account(ex, 1_000_000.0, 10.0)
    for price, lots in BIDS:
        rest(ex, bids, BUY, lots, price)
    Pusher(model)
    return model, rungs, Refiller(model)


def test_a_requote_between_passes_ends_the_cascade_at_the_second_rung():
    # Pass 1 liquidates rung 1 (last 98,300 after it: rung 2 pending); 50 ms into the cascade
    # the refiller rests 200 lots at 99,000; pass 2 liquidates rung 2, whose IOC (>= BP
    # 98,000) sells its 100 lots at 99,000: last 99,000, above LP 3 and LP 4. Nothing pending.
    model, rungs, refiller = _ladder_market(cascade_pass_ms=50.0)
    model.step()
    assert model.liquidations["account"].tolist() == rungs[:2]
    assert refiller.calls == [50.0]
    assert model.perp.last_price == pytest.approx(99_000.0)


def test_without_micro_time_the_whole_ladder_falls_in_one_settle():
    # cascade_pass_ms = 0: every pass at once, no responder is asked; the four rungs fall.
    model, rungs, refiller = _ladder_market(cascade_pass_ms=0.0)
    model.step()
    assert model.liquidations["account"].tolist() == rungs
    assert refiller.calls == []


def test_a_maker_requotes_in_a_cascade_once_its_reaction_time_has_passed():
    # Reaction 100 ms, passes 50 ms apart: it requotes after the passes ending at 100 and
    # 200 ms, not at 50 or 150. A new step starts the count again: at t = 1 the maker's own
    # act requotes (its 1 s cadence), then the cascade's pass at 100 ms, not the one at 50.
    model = quiet_model()
    maker = MarketMaker(model, MarketMakerParams(count=1, reaction_ms=100.0))
    requotes: list[float] = []
    maker.requote = lambda: requotes.append(model.t)
    for elapsed in (50.0, 100.0, 150.0, 200.0):
        maker.respond_to_cascade(elapsed)
    assert requotes == [0.0, 0.0]
    model.step()
    maker.respond_to_cascade(50.0)
    maker.respond_to_cascade(100.0)
    assert requotes == [0.0, 0.0, 1.0, 1.0]
    maker.pause()
    maker.respond_to_cascade(300.0)
    assert len(requotes) == 4  # a paused maker does not come back in a cascade


def test_a_negative_pass_time_is_refused():
    with pytest.raises(ValueError, match="cascade_pass_ms"):
        MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0), seed=1,
                    cascade_pass_ms=-1.0)
