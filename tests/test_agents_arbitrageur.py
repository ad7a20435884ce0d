"""Basis arbitrageurs: direction of the trade, the capital limit, the exit and the spot hedge.

The index stays at 100,000 USD (exogenous, zero volatility); a liquidity account rests orders
that put the perp mid where a test wants it. With the default contract a clip of 50,000 USD
at 100,000 USD is 500 lots (0.5 BTC).
"""

from __future__ import annotations

from agents import stages
from agents.arbitrageur import Arbitrageur
from agents.params import ArbitrageurParams
from tests.market_builders import quiet_model, quote

CLIP_LOTS = 500  # 50,000 USD clips at 100,000 USD and 0.001 BTC lots


def params(**overrides) -> ArbitrageurParams:
    """The tests' arbitrageur: 50,000 USD clips (the arithmetic below assumes them)."""
    return ArbitrageurParams(**{"clip_notional": 50_000.0, **overrides})


def look(arb: Arbitrageur) -> None:
    """Let one interval pass and let the arbitrageur act."""
    arb.model.t += arb.params.interval_s
    arb.act()


def position(exchange, account: int) -> int:
    return exchange.position_lots(account)


def test_rich_perp_is_sold():
    model = quiet_model()
    arb = Arbitrageur(model, params())
    assert arb.stage == stages.ARBITRAGE and arb.spot_account is None
    quote(model.perp, 100_090.0, 100_110.0)  # mid 100,100: premium +10 bp > 5 bp
    look(arb)
    assert position(model.perp, arb.perp_account) == -CLIP_LOTS


def test_cheap_perp_is_bought():
    model = quiet_model()
    arb = Arbitrageur(model, params())
    quote(model.perp, 99_890.0, 99_910.0)  # premium -10 bp
    look(arb)
    assert position(model.perp, arb.perp_account) == CLIP_LOTS


def test_premium_inside_the_band_is_left_alone():
    model = quiet_model()
    arb = Arbitrageur(model, params())
    quote(model.perp, 100_020.0, 100_040.0)  # +3 bp: between exit (1) and threshold (5)
    look(arb)
    assert position(model.perp, arb.perp_account) == 0


def test_capital_limit_caps_the_position():
    model = quiet_model()
    arb = Arbitrageur(model, params(max_position_notional=150_000.0))
    quote(model.perp, 100_090.0, 100_110.0)
    for _ in range(6):
        look(arb)
    # 150,000 USD / 100 USD per lot = 1,500 lots: three clips, then nothing more.
    assert position(model.perp, arb.perp_account) == -1_500


def test_it_acts_once_per_interval():
    model = quiet_model()
    arb = Arbitrageur(model, params(interval_s=10.0))
    quote(model.perp, 100_090.0, 100_110.0)
    arb.act()
    arb.act()  # same time: nothing
    assert position(model.perp, arb.perp_account) == -CLIP_LOTS


def test_trade_is_unwound_when_the_premium_reverts():
    model = quiet_model()
    arb = Arbitrageur(model, params())
    liquidity = quote(model.perp, 100_090.0, 100_110.0)
    look(arb)
    look(arb)
    assert position(model.perp, arb.perp_account) == -1_000
    for order_id in model.perp.open_orders(liquidity):
        model.perp.cancel(liquidity, order_id)
    quote(model.perp, 99_995.0, 100_005.0)  # premium 0 < exit 1 bp
    look(arb)
    assert position(model.perp, arb.perp_account) == -500
    look(arb)
    look(arb)
    assert position(model.perp, arb.perp_account) == 0


def test_spot_leg_hedges_the_perp_position():
    model = quiet_model(spot=True)
    arb = Arbitrageur(model, params())
    quote(model.spot, 99_995.0, 100_005.0)
    model.index = 100_000.0  # the spot mid, as the model reads it
    quote(model.perp, 100_090.0, 100_110.0)
    look(arb)
    assert position(model.perp, arb.perp_account) == -CLIP_LOTS
    assert position(model.spot, arb.spot_account) == CLIP_LOTS


def test_cheap_perp_is_bought_against_a_spot_sale():
    model = quiet_model(spot=True)
    arb = Arbitrageur(model, params())
    quote(model.spot, 99_995.0, 100_005.0)
    model.index = 100_000.0
    quote(model.perp, 99_890.0, 99_910.0)
    look(arb)
    assert position(model.perp, arb.perp_account) == CLIP_LOTS
    assert position(model.spot, arb.spot_account) == -CLIP_LOTS
