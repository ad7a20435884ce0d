"""Noise and value traders: position caps, bounded resting orders, direction, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from agents import stages
from agents.flow import NoiseTraders, ValueTraders, capped_order
from agents.market_maker import MarketMaker
from agents.params import MarketMakerParams, NoiseParams, ValueParams
from sim.exchange import BUY, SELL
from tests.market_builders import quiet_model, quote


def positions(exchange, accounts) -> np.ndarray:
    return exchange.positions_lots(np.asarray(accounts))


def run_fills(seed: int, steps: int = 300) -> np.ndarray:
    model = quiet_model(seed=seed, volatility=0.5)
    MarketMaker(model, MarketMakerParams())
    NoiseTraders(model, NoiseParams(rate_per_s=2.0))
    ValueTraders(model, ValueParams(rate_per_s=1.0))
    fills = []
    for _ in range(steps):
        model.step()
        fills.append(model.fills)
    return np.concatenate(fills)


# ---------------------------------------------------------------- position caps


def test_capped_order_cuts_to_the_room_and_flips_at_the_limit():
    assert capped_order(BUY, 100, 950, 1_000) == (BUY, 50, False)  # 50 lots of room left
    assert capped_order(SELL, 100, 1_000, 1_000) == (SELL, 100, False)  # reducing: free
    assert capped_order(BUY, 100, 1_000, 1_000) == (SELL, 100, True)  # at the limit: reduce
    assert capped_order(BUY, 5_000, 1_000, 1_000) == (SELL, 1_000, True)  # no further than flat
    assert capped_order(SELL, 100, -1_000, 1_000) == (BUY, 100, True)


# ---------------------------------------------------------------- noise


@pytest.mark.slow
def test_same_seed_gives_identical_fills():
    first, second = run_fills(3), run_fills(3)
    assert len(first) > 50
    assert first.tobytes() == second.tobytes()
    assert run_fills(4).tobytes() != first.tobytes()


def test_noise_limit_orders_stay_bounded_and_fresh():
    model = quiet_model(volatility=0.5)
    MarketMaker(model, MarketMakerParams())
    noise = NoiseTraders(model, NoiseParams(rate_per_s=5.0, market_share=0.0,
                                            limit_offset_bps=50.0))
    cap, ttl_s = NoiseParams().max_resting_orders, NoiseParams().order_ttl_s
    for _ in range(400):
        model.step()
        assert len(noise.resting) <= cap
    assert len(noise.resting) == cap  # 2,000 limits were sent: the cap binds
    assert all(model.t - placed < ttl_s for placed, _, _ in noise.resting)
    live = sum(len(model.perp.open_orders(int(a))) for a in noise.accounts)
    assert live <= cap


def test_noise_account_at_its_limit_only_reduces():
    model = quiet_model()
    quote(model.perp, 99_995.0, 100_005.0, lots=100_000, wallet=1e10)
    noise = NoiseTraders(model, NoiseParams(count=2, rate_per_s=3.0, market_share=1.0,
                                            max_position_notional=20_000.0))
    largest = 0
    for _ in range(300):
        model.step()
        largest = max(largest, int(np.abs(positions(model.perp, noise.accounts)).max()))
    # 20,000 USD at 100,000 USD is 200 lots: reached, never passed.
    assert largest == 200


def test_noise_on_spot_acts_in_the_spot_stage():
    model = quiet_model(volatility=0.5, spot=True)
    noise = NoiseTraders(model, NoiseParams(count=3), venue="spot")
    assert noise.stage == stages.SPOT and NoiseTraders.stage == stages.NOISE
    assert noise.exchange is model.spot


def test_empty_crowd_does_nothing():
    model = quiet_model(volatility=0.5)
    NoiseTraders(model, NoiseParams(count=0, rate_per_s=10.0))
    ValueTraders(model, ValueParams(count=0, rate_per_s=10.0))
    for _ in range(10):
        model.step()
    assert model.perp.messages == 0


# ---------------------------------------------------------------- value


def test_value_traders_buy_when_price_is_below_the_fundamental():
    model = quiet_model()
    quote(model.perp, 98_980.0, 99_000.0, lots=100_000, wallet=1e10)  # 1 % under the fundamental
    value = ValueTraders(model, ValueParams(rate_per_s=2.0, estimate_noise_bps=0.0))
    assert value.stage == stages.VALUE
    for _ in range(100):
        model.step()
    held = positions(model.perp, value.accounts)
    assert held.min() >= 0 and held.sum() > 0


def test_value_traders_sell_when_price_is_above_the_fundamental():
    model = quiet_model()
    quote(model.perp, 101_000.0, 101_020.0, lots=100_000, wallet=1e10)
    value = ValueTraders(model, ValueParams(rate_per_s=2.0, estimate_noise_bps=0.0))
    for _ in range(100):
        model.step()
    held = positions(model.perp, value.accounts)
    assert held.max() <= 0 and held.sum() < 0


def test_value_traders_leave_a_fairly_priced_market_alone():
    model = quiet_model()
    quote(model.perp, 99_995.0, 100_005.0, lots=100_000, wallet=1e10)  # within the 10 bp threshold
    value = ValueTraders(model, ValueParams(rate_per_s=2.0, estimate_noise_bps=0.0))
    for _ in range(100):
        model.step()
    assert not positions(model.perp, value.accounts).any()


def test_value_positions_stop_at_the_limit():
    model = quiet_model()
    quote(model.perp, 98_980.0, 99_000.0, lots=100_000, wallet=1e10)
    value = ValueTraders(model, ValueParams(count=2, rate_per_s=5.0, estimate_noise_bps=0.0,
                                            size_notional=20_000.0,
                                            max_position_notional=50_000.0))
    for _ in range(200):
        model.step()
    # 50,000 USD at the 98,990 USD mid is 505 lots (floored).
    assert positions(model.perp, value.accounts).tolist() == [505, 505]


@pytest.mark.parametrize("venue", ["perp", "spot"])
def test_value_traders_are_deterministic(venue):
    def run() -> list[int]:
        model = quiet_model(seed=11, volatility=0.5, spot=True)
        exchange = model.perp if venue == "perp" else model.spot
        quote(exchange, 99_800.0, 99_820.0, lots=100_000, wallet=1e10)
        value = ValueTraders(model, ValueParams(rate_per_s=3.0), venue=venue)
        for _ in range(200):
            model.step()
        return positions(exchange, value.accounts).tolist()

    first = run()
    assert any(first)
    assert run() == first
