"""The recorded predicted funding: what the series says before a settlement is what settles.

A quiet market: the index is a fundamental with zero volatility (100,000 USD every step), one
account rests a 300-lot bid at 100,120 and a 300-lot ask at 100,200 and nothing trades. The
impact notional is 25,000 USD: 250 lots at ~100,000, so both impact prices are the resting
prices. Premium (Binance, 'Introduction to Binance Futures Funding Rates'):

    P = (max(0, 100,120 - 100,000) - max(0, 100,000 - 100,200)) / 100,000 = 0.0012

every step, so the weighted average of any number of samples is 0.0012 too. The rate is
``P + clamp(I - P, -clamp, +clamp)``, limited to ``+/- cap``.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.exchange.codes import BUY, SELL
from sim.heatmap import price_edges
from sim.model import MarketModel
from sim.recorder import Recorder
from tests.exchange_builders import open_account, rest
from tests.market_builders import quiet_model

INTERVAL_S = 10.0  # funding settles at t = 10 s: ten one-second steps, ten premium samples


def quiet_market(**rules) -> tuple[MarketModel, Recorder]:
    """A model with a constant exogenous index of 100,000 and one account quoting
    100,120 / 100,200 (300 lots each), recorded every step, run to just past the first
    funding time."""
    model = quiet_model(seed=0, funding_interval_s=INTERVAL_S, maker_fee=0.0, taker_fee=0.0,
                        **rules)
    maker = open_account(model.perp, 1_000_000.0, 10.0)
    rest(model.perp, maker, BUY, 300, 100_120.0)
    rest(model.perp, maker, SELL, 300, 100_200.0)
    recorder = Recorder(model, series_every=1, heatmap_every=1_000,
                        price_edges=price_edges(100_000.0, 0.1, 100.0), expected_steps=12)
    model.run_until(12.0)
    return model, recorder


@pytest.mark.parametrize(("rules", "expected"), [
    # I = 0.0002, clamp 0.0003: I - P = -0.001 < -0.0003, so F = 0.0012 - 0.0003 = 0.0009
    # (the cap 0.003 does not bind). Default constants would give 0.0012 - 0.0005 = 0.0007.
    ({"interest_rate": 0.0002, "funding_clamp": 0.0003}, 0.0009),
    # The same with a cap of 0.0008: F = min(0.0009, 0.0008) = 0.0008.
    ({"interest_rate": 0.0002, "funding_clamp": 0.0003, "funding_cap": 0.0008}, 0.0008),
])
def test_recorded_prediction_before_settlement_is_the_settled_rate(rules, expected):
    model, recorder = quiet_market(**rules)
    series = recorder.result(model, {}).series.set_index("t")
    settled = model.perp.funding_history()
    assert list(settled["t"]) == [INTERVAL_S]
    assert settled["premium_avg"][0] == pytest.approx(0.0012, rel=1e-12)
    assert settled["rate"][0] == pytest.approx(expected, rel=1e-12)
    # Every row of the interval predicts the same rate (the premium is held constant); the
    # last one, at t = 9 s, one step before the settlement, is what settled.
    before = series.loc[1.0:9.0, "predicted_funding_rate"]
    np.testing.assert_allclose(before, expected, rtol=1e-12)
    assert before.loc[9.0] == pytest.approx(settled["rate"][0], rel=1e-12)
    # Nothing had settled before t = 10 s; from then on the settled rate is recorded.
    np.testing.assert_array_equal(series.loc[1.0:9.0, "funding_rate"], 0.0)
    assert series.loc[10.0, "funding_rate"] == pytest.approx(expected, rel=1e-12)


def test_recorded_prediction_restarts_with_the_next_interval():
    model, recorder = quiet_market(interest_rate=0.0002, funding_clamp=0.0003)
    series = recorder.result(model, {}).series.set_index("t")
    # At t = 10 s the average restarts after the settlement: no sample yet, P = 0, and
    # I - P = 0.0002 lies inside +/- 0.0003, so the prediction is the interest rate 0.0002.
    # At t = 11 s one sample of 0.0012 gives 0.0009 again.
    assert series.loc[10.0, "predicted_funding_rate"] == pytest.approx(0.0002, rel=1e-12)
    assert series.loc[11.0, "predicted_funding_rate"] == pytest.approx(0.0009, rel=1e-12)
