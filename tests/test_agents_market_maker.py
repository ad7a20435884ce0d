"""Market makers: quote arithmetic by hand, message economy, pause and pull, a market smoke.

Conventions: tick 0.1 USD and lot 0.001 BTC (``ExchangeConfig`` defaults), so 100,000 USD is
1,000,000 ticks and a level spacing of 1 bp at that price is a grid of 100 ticks (10 USD).
"""

from __future__ import annotations

import math

import pytest

from agents import stages
from agents.base import Trader
from agents.flow import NoiseTraders, ValueTraders
from agents.market_maker import (
    MarketMaker,
    RealizedVol,
    half_spread,
    quote_bounds,
    quote_ladder,
    quoted_sides,
    reservation_price,
)
from agents.params import MarketMakerParams, NoiseParams, ValueParams
from sim.exchange import BUY, LIMIT, MARKET, SELL, ExchangeConfig
from sim.fundamental import FundamentalProcess
from sim.model import MarketModel
from tests.market_builders import quiet_model

BP = 1e-4
GRID = 100  # 1 bp of 100,000 USD in ticks


def maker_params(**overrides) -> MarketMakerParams:
    # The arithmetic in these tests assumes these sizes and limits, whatever the defaults.
    base = {"levels": 3, "index_weight": 1.0, "level_notional": 100_000.0,
            "max_inventory_notional": 2_000_000.0, "inventory_aversion": 0.5}
    base.update(overrides)
    return MarketMakerParams(**base)


def book(exchange, n: int = 10):
    bids = exchange.depth(BUY, n)
    asks = exchange.depth(SELL, n)
    return ([int(p) for p in bids[0]], [int(q) for q in bids[1]],
            [int(p) for p in asks[0]], [int(q) for q in asks[1]])


# ---------------------------------------------------------------- quote arithmetic


def test_half_spread_widens_linearly_with_vol_above_the_reference():
    p = MarketMakerParams()  # 1 bp half spread, x2 per reference vol of 2 bp/s
    assert half_spread(1.0 * BP, p) == pytest.approx(1.0 * BP)  # below the reference: base
    # 4 bp/s is twice the reference: 1 bp * (1 + 2 * (2 - 1)) = 3 bp.
    assert half_spread(4.0 * BP, p) == pytest.approx(3.0 * BP)


def test_reservation_price_moves_against_inventory():
    p = maker_params()  # aversion 0.5, max inventory 2M USD
    # Long 1M of a 2M limit: r = 100,000 * (1 - 0.5 * 1e-4 * 0.5) = 99,997.5.
    assert reservation_price(100_000.0, 1_000_000.0, BP, p) == pytest.approx(99_997.5)
    assert reservation_price(100_000.0, -1_000_000.0, BP, p) == pytest.approx(100_002.5)
    # Beyond the limit the skew saturates (hard limit 1, the default).
    assert reservation_price(100_000.0, 8_000_000.0, BP, p) == pytest.approx(99_995.0)
    # With a hard limit of 2 it keeps growing up to q = 2:
    # 3M of 2M is q = 1.5: 100,000 * (1 - 0.5 * 1e-4 * 1.5) = 99,992.5;
    # 8M is q = 4, clipped to 2: 100,000 * (1 - 0.5 * 1e-4 * 2) = 99,990.
    p = maker_params(inventory_hard_limit=2.0)
    assert reservation_price(100_000.0, 3_000_000.0, BP, p) == pytest.approx(99_992.5)
    assert reservation_price(100_000.0, 8_000_000.0, BP, p) == pytest.approx(99_990.0)


def test_past_the_limit_the_adding_side_widens_and_both_sides_stay_until_the_hard_limit():
    # Aversion 0.5, max inventory 2M USD, h = 1 bp, hard limit 2 (4M USD).
    p = maker_params(inventory_widen=2.0, inventory_hard_limit=2.0)
    # Long 3M: q = 1.5, r = 99,992.5 (above); the bid adds to the position, so its half
    # spread is 1 bp * (1 + 2 * (1.5 - 1)) = 2 bp; the ask keeps 1 bp:
    # bid 99,992.5 * (1 - 2e-4) = 99,972.50150, ask 99,992.5 * (1 + 1e-4) = 100,002.49925.
    bid, ask = quote_bounds(100_000.0, 3_000_000.0, 0.0, p)
    assert bid == pytest.approx(99_972.5015)
    assert ask == pytest.approx(100_002.49925)
    # Short 3M: the mirror image, the ask widens: r = 100,007.5.
    bid, ask = quote_bounds(100_000.0, -3_000_000.0, 0.0, p)
    assert bid == pytest.approx(100_007.5 * (1 - 1e-4))
    assert ask == pytest.approx(100_007.5 * (1 + 2e-4))
    # Both sides are quoted up to twice the limit (4M); at 4M only the reducing side.
    assert quoted_sides(3_999_999.0, p) == (3, 3)
    assert quoted_sides(4_000_000.0, p) == (0, 3)
    assert quoted_sides(-4_000_000.0, p) == (3, 0)


def test_flat_maker_quotes_one_half_spread_each_side_on_the_grid():
    bids, asks = quote_ladder(100_000.0, 0.0, 0.0, maker_params(), 0.1, GRID)
    # 100,000 * (1 -/+ 1 bp) = 99,990 / 100,010 USD, then 1 bp (100 ticks) apart.
    assert bids == [999_900, 999_800, 999_700]
    assert asks == [1_000_100, 1_000_200, 1_000_300]


def test_long_maker_shifts_its_ladder_down():
    p = maker_params(inventory_aversion=4.0)
    bids, asks = quote_ladder(100_000.0, 1_000_000.0, 0.0, p, 0.1, GRID)
    # r = 100,000 * (1 - 4 * 1e-4 * 0.5) = 99,980; bid 99,970.002 -> 999,700 ticks,
    # ask 99,989.998 -> 999,900 ticks (nearest grid points).
    assert bids == [999_700, 999_600, 999_500]
    assert asks == [999_900, 1_000_000, 1_000_100]


def test_volatile_market_widens_the_quotes():
    bids, asks = quote_ladder(100_000.0, 0.0, 4.0 * BP, maker_params(), 0.1, GRID)
    # Half spread 3 bp: 99,970 and 100,030 USD.
    assert bids[0] == 999_700
    assert asks[0] == 1_000_300


def test_maker_at_inventory_limit_quotes_only_the_reducing_side():
    p = maker_params()  # limit 2M USD, hard limit 1 (the default)
    bids, asks = quote_ladder(100_000.0, 2_000_000.0, 0.0, p, 0.1, GRID)
    assert bids == [] and len(asks) == 3
    bids, asks = quote_ladder(100_000.0, -2_500_000.0, 0.0, p, 0.1, GRID)
    assert asks == [] and len(bids) == 3


def test_realized_vol_of_steady_returns_is_their_size():
    vol = RealizedVol(window_s=60.0, step_s=1.0)
    for k in range(11):
        vol.update(100.0 * math.exp(3 * BP * k))
    assert vol.per_s == pytest.approx(3 * BP)


class Idle(Trader):
    """Owns an account and does nothing."""

    stage = stages.NOISE

    def act(self) -> None:
        pass


def test_a_hollow_book_mid_is_left_out_of_the_fair_price():
    # Another account rests a bid 1 % under and an ask 3 % over the 100,000 index: the mid,
    # 101,000, is 2 % from the index and the spread (4,000 USD, 396 bp) is wider than
    # max_mid_spread_bps (20 bp), so a maker weighting the mid at 1/2 still centres on 100,000.
    model = quiet_model()
    other = int(Idle(model).open_accounts(1, 1e9, 10)[0])
    maker = MarketMaker(model, maker_params(index_weight=0.5))
    model.perp.submit(other, BUY, LIMIT, 1, 990_000)
    model.perp.submit(other, SELL, LIMIT, 1, 1_030_000)
    model.step()
    bid_prices, _, ask_prices, _ = book(model.perp, 4)
    assert maker.pulled is False
    assert bid_prices[:3] == [999_900, 999_800, 999_700]
    assert ask_prices[:3] == [1_000_100, 1_000_200, 1_000_300]


# ---------------------------------------------------------------- the maker in a book


def test_maker_rests_its_ladder_with_level_notional_sizes():
    model = quiet_model()
    MarketMaker(model, maker_params())
    model.step()
    bid_prices, bid_lots, ask_prices, ask_lots = book(model.perp)
    assert bid_prices == [999_900, 999_800, 999_700]
    assert ask_prices == [1_000_100, 1_000_200, 1_000_300]
    # 100,000 USD / (99,990 USD * 0.001) = 1,000.1 lots -> 1,000; / 100,010 -> 999.9 -> 999.
    assert bid_lots == [1_000, 1_000, 1_000]
    assert ask_lots == [999, 999, 999]


def test_requote_sends_no_message_when_nothing_changed():
    model = quiet_model()
    maker = MarketMaker(model, maker_params())
    model.step()
    sent = model.perp.messages
    assert sent == 6
    for _ in range(20):
        model.step()
    assert model.perp.messages == sent
    assert maker.messages_sent == 6


def test_a_one_level_move_costs_four_messages():
    model = quiet_model()
    MarketMaker(model, maker_params())
    model.step()
    sent = model.perp.messages
    model.fundamental.shock(math.log(1.0001))  # +1 bp: the ladder moves one grid step up
    model.step()
    # One new bid on top, the lowest bid cancelled; the inner ask cancelled, one added above.
    assert model.perp.messages - sent == 4
    bid_prices, _, ask_prices, _ = book(model.perp)
    assert bid_prices == [1_000_000, 999_900, 999_800]
    assert ask_prices == [1_000_200, 1_000_300, 1_000_400]


def test_a_move_within_the_hysteresis_sends_nothing():
    model = quiet_model()
    MarketMaker(model, maker_params())
    model.step()
    sent = model.perp.messages
    model.fundamental.shock(math.log(1.00005))  # +0.5 bp: half a grid step
    model.step()
    assert model.perp.messages == sent


def test_partly_filled_quote_is_replaced_only_below_its_keep_size():
    model = quiet_model()
    maker = MarketMaker(model, maker_params())
    taker = int(model.perp.open_accounts(1, 1_000_000.0, 10.0)[0])
    model.step()
    sent = maker.messages_sent
    model.perp.submit(taker, BUY, MARKET, 100)  # 100 of the inner ask's 999 lots
    model.step()
    assert maker.messages_sent == sent  # 899 left >= 75 % of 999 (750): kept
    model.perp.submit(taker, BUY, MARKET, 200)  # 699 left < 750: replaced
    model.step()
    assert maker.messages_sent == sent + 2
    _, _, ask_prices, ask_lots = book(model.perp)
    assert ask_prices[0] == 1_000_100 and ask_lots[0] == 999


def test_pause_cancels_every_quote_and_resume_quotes_again():
    model = quiet_model()
    maker = MarketMaker(model, maker_params())
    model.step()
    maker.pause()
    assert model.perp.open_orders(maker.account) == []
    model.step()
    assert model.perp.best_bid_ticks() is None and model.perp.best_ask_ticks() is None
    maker.resume()
    model.step()
    assert len(model.perp.open_orders(maker.account)) == 6


def test_quotes_are_pulled_while_realized_vol_exceeds_the_limit():
    model = quiet_model()
    maker = MarketMaker(model, maker_params(pull_vol_bps=30.0))
    model.step()
    maker.vol.update(100_000.0 * 1.01)  # a 1 % move, and back at the next step's read
    model.step()
    assert maker.pulled
    assert model.perp.open_orders(maker.account) == []


def test_spot_maker_quotes_the_spot_book_around_the_fundamental():
    model = quiet_model(spot=True)
    maker = MarketMaker(model, maker_params(), venue="spot")
    assert maker.stage == stages.SPOT and MarketMaker.stage == stages.MAKER
    model.step()
    bid_prices, _, ask_prices, _ = book(model.spot)
    assert bid_prices[0] == 999_900 and ask_prices[0] == 1_000_100
    assert model.perp.best_bid_ticks() is None
    assert model.index == pytest.approx(100_000.0)  # the index is the spot mid


def test_spot_venue_needs_a_spot_book():
    with pytest.raises(ValueError, match="venue"):
        MarketMaker(quiet_model(), maker_params(), venue="spot")


# ---------------------------------------------------------------- a small market


def test_makers_noise_and_value_keep_an_orderly_market():
    model = MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0), seed=7)
    makers = [MarketMaker(model, MarketMakerParams()) for _ in range(2)]
    NoiseTraders(model, NoiseParams())
    ValueTraders(model, ValueParams())
    for _ in range(600):
        model.step()
        checks = model.perp.invariants()
        assert checks["book_not_crossed"] and checks["money_conserved"]
        mid = model.perp.mid_price
        assert mid is not None
        assert abs(mid / model.fundamental.price - 1.0) < 0.02
    assert model.perp.open_interest > 0  # trades happened
    assert all(len(model.perp.open_orders(m.account)) >= 8 for m in makers)  # 5 a side


def test_the_band_shortcut_changes_nothing_but_speed(monkeypatch):
    def run() -> tuple[bytes, int]:
        model = MarketModel(ExchangeConfig(), FundamentalProcess(100_000.0), seed=5)
        makers = [MarketMaker(model, MarketMakerParams()) for _ in range(2)]
        NoiseTraders(model, NoiseParams(rate_per_s=2.0))
        fills = []
        for _ in range(300):
            model.step()
            fills.append(model.fills.tobytes())
        return b"".join(fills), sum(m.messages_sent for m in makers)

    with_band = run()
    monkeypatch.setattr(MarketMaker, "_within_band", lambda self, fair, vol: False)
    without_band = run()
    assert with_band[1] > 20 and len(with_band[0]) > 0
    assert with_band == without_band


# ---------------------------------------------------------------- stale quotes


@pytest.mark.parametrize("side", [BUY, SELL])
def test_a_quote_far_through_the_fair_price_is_taken_within_the_inventory_limit(side):
    # Fair 100,000, take edge 20 bp. Another account rests 500 lots 30 bp through the fair
    # price (a bid at 100,300 or an ask at 99,700) and 500 lots 10 bp through (100,100 or
    # 99,900), inside the edge. The maker sends an IOC limited to 100,000 x (1 +- 0.002) =
    # 100,200 / 99,800 USD, sized by its inventory room: 20,000 USD / (100,000 x 0.001) = 200
    # lots. So it takes 200 lots of the far quote, none of the near one, and no more once
    # its inventory (200 lots = 20,000 USD at the fair price) is at the limit.
    model = quiet_model()
    other = int(Idle(model).open_accounts(1, 1e9, 10)[0])
    maker = MarketMaker(model, maker_params(take_edge_bps=20.0, max_inventory_notional=20_000.0))
    far, near = 1_000_000 + 3_000 * side, 1_000_000 + 1_000 * side
    model.perp.submit(other, side, LIMIT, 500, far)
    model.perp.submit(other, side, LIMIT, 500, near)
    model.step()
    fills = model.fills[model.fills["taker_account"] == maker.account]
    assert fills["price"].tolist() == [far] and fills["qty"].tolist() == [200]
    assert model.perp.account(maker.account).position_lots == -200 * side
    model.step()
    assert model.perp.account(maker.account).position_lots == -200 * side
    assert model.perp.book.resting_qty(side, far) == 300
    assert model.perp.book.resting_qty(side, near) == 500


def test_a_maker_with_no_take_edge_never_takes():
    model = quiet_model()
    other = int(Idle(model).open_accounts(1, 1e9, 10)[0])
    maker = MarketMaker(model, maker_params(take_edge_bps=0.0))
    model.perp.submit(other, BUY, LIMIT, 500, 1_003_000)  # 30 bp over the fair price
    model.step()
    assert model.perp.account(maker.account).position_lots == 0
    assert model.perp.book.resting_qty(BUY, 1_003_000) == 500
