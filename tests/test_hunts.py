"""A whale's hunt record, number by number, in a market small enough to follow by hand.

The market (no fees, index fixed at 100,000, stops and liquidations on the last price):

- a long cluster: one account at 50x long 2 BTC from 100,000 (margin 4,000). Its liquidation
  price is (Q EP - WB - cum) / (Q (1 - MMR)) with the 50 k-250 k tier's MMR 0.5 % and cum 50:
  (200,000 - 4,000 - 50) / 1.99 = 98,467.3, in the 50 USD bin [98,450, 98,500); its
  bankruptcy price is 100,000 - 4,000 / 2 = 98,000;
- a sell stop of 0.3 BTC at 98,480 (same bin), from a long at 2x (liquidated near 50,000);
- a static book: bids 0.1 BTC at 99,900, 1 BTC at 98,470, 1.201 BTC at 98,460, 5 BTC at
  98,400; asks 5 BTC at 100,100.

The whale reads the true map, builds nothing (``build_share`` 0) and prices a push by the
book's depth alone (``read_tape`` off). Open interest is 2.3 BTC (230,000 USD at the 100,000
mark), so a cluster needs half of it (``min_cluster_oi_share`` 0.5: 115,000 USD) and its
position may reach all of it (``position_oi_share`` 1: 230,000 USD). The depth
within 1 % of the price (down to 99,000) is the one bid above it, 9,990 USD, so its push clip
is 10.015 x 9,990 = 100,049.85 USD and its budget 100 x 9,990. The hunt runs:

- t = 2 scout (one step late: the first settle prices the liquidations): the only cluster
  is that bin, 200,000 of liquidations + 0.3 x 98,480 = 29,544 of stops = 229,544 USD,
  centre 98,475, 1.5 % away; its cost is the one bid above 98,500, 0.1 x 99,900 = 9,990 USD,
  a ratio of 229,544 / 9,990 = 22.98.
  t = 3: nothing to build, on to the push.
- t = 4 push: a clip of 100,049.85 USD at the 99,900 bid is int(100,049.85 / 99.9) = 1,001 lots:
  100 at 99,900 and 901 at 98,470, so the last price is 98,470. Settle, pass 1: the stop
  (98,480) fires: 99 lots at 98,470 and 201 at 98,460. Pass 2: the last price 98,460 is under
  98,467.3: the liquidation's 2,000 lots sell 1,000 at 98,460 and 1,000 at 98,400 (above the
  bankruptcy price, so the insurance fund takes the rest and no ADL).
- t = 5: the whale tallies that forced flow, sees the last price 98,400 under the centre and
  harvests: a market buy as large as the 300 stop lots and 2,000 liquidated lots, capped at
  its 1,001 short, closes it at the 100,100 ask.
"""

from __future__ import annotations

import pytest

from agents.params import WhaleParams
from agents.whale import Whale
from sim.exchange import (
    BUY,
    LIMIT,
    MARKET,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    Status,
)
from sim.model import MarketModel
from sim.result import HUNT_COLUMNS, hunt_table
from tests.market_builders import quiet_model
from tests.test_agents_whale import phases

BOOK = {BUY: [(99_900.0, 100), (98_470.0, 1_000), (98_460.0, 1_201), (98_400.0, 5_000)],
        SELL: [(100_100.0, 5_000)]}


def hand_market() -> tuple[MarketModel, Whale]:
    """Return the market of the module docstring and its whale, before the first step."""
    model = quiet_model(maker_fee=0.0, taker_fee=0.0, liquidation_trigger=TRIGGER_LAST,
                        insurance_fund=10e6, price_levels=1 << 14)
    ex = model.perp
    counterparty = int(ex.open_accounts(1, 1e9, 1)[0])
    crowd = int(ex.open_accounts(1, 4_000.0, 50)[0])
    stopper = int(ex.open_accounts(1, 20_000.0, 2)[0])
    wall = int(ex.open_accounts(1, 1e9, 10)[0])
    assert ex.submit(counterparty, SELL, LIMIT, 2_300, ex.to_ticks(100_000.0)).status == Status.OK
    assert ex.submit(crowd, BUY, MARKET, 2_000).filled == 2_000
    assert ex.submit(stopper, BUY, MARKET, 300).filled == 300
    for side, levels in BOOK.items():
        for price, lots in levels:
            assert ex.submit(wall, side, LIMIT, lots, ex.to_ticks(price)).filled == 0
    stop = ex.submit(stopper, SELL, STOP_MARKET, 300, ex.to_ticks(98_480.0), TRIGGER_LAST,
                     reduce_only=True)
    assert stop.status == Status.OK
    params = WhaleParams(count=1, heatmap="true", active_from_s=2.0, build_share=0.0,
                         read_tape=False, min_cluster_oi_share=0.5, position_oi_share=1.0,
                         push_clip_depth_share=10.015, push_depth_multiple=100.0)
    return model, Whale(model, params)


def test_a_hunt_records_the_stops_and_liquidations_it_set_off():
    model, whale = hand_market()
    for _ in range(5):
        model.step()
    assert phases(model) == ["idle -> scout", "scout -> build", "build -> push",
                             "push -> harvest", "harvest -> cooldown"]
    [hunt] = whale.hunts
    assert (hunt.side, hunt.map, hunt.whale) == ("long", "true", whale.account)
    assert (hunt.venue, hunt.trigger) == ("perp", "last")
    assert hunt.oi_notional == pytest.approx(230_000.0)
    assert hunt.push_budget_notional == pytest.approx(999_000.0)  # 100 x 9,990
    assert hunt.expected_cost == pytest.approx(9_990.0)
    assert (hunt.start_t, hunt.build_end_t, hunt.push_end_t, hunt.end_t) == (2.0, 3.0, 5.0, 5.0)
    assert (hunt.outcome, hunt.end_reason) == ("target reached",
                                               "position closed into the forced flow")
    assert hunt.start_price == 100_000.0
    assert (hunt.target_low, hunt.target_high, hunt.target_price) == (98_450.0, 98_500.0,
                                                                      98_475.0)
    assert hunt.target_notional == pytest.approx(229_544.0)  # 200,000 + 0.3 x 98,480
    assert hunt.distance_pct == pytest.approx(1.5)  # (100,000 - 98,500) / 100,000
    assert hunt.built_notional == 0.0
    # 0.1 x 99,900 + 0.901 x 98,470 = 9,990 + 88,721.47
    assert hunt.pushed_notional == pytest.approx(98_711.47)
    assert hunt.peak_notional == pytest.approx(98_711.47)  # the short at its entry price
    # stops: 0.099 x 98,470 + 0.201 x 98,460 = 9,748.53 + 19,790.46
    assert hunt.stops_triggered_notional == pytest.approx(29_538.99)
    # liquidation: 2 BTC at the average fill (98,460 + 98,400) / 2 = 98,430
    assert hunt.liquidated_notional == pytest.approx(196_860.0)
    assert hunt.forced_notional == pytest.approx(29_538.99 + 196_860.0)
    assert hunt.cascade_multiplier == pytest.approx(226_398.99 / 98_711.47)  # 2.29
    # bought back 1.001 BTC at 100,100 against 98,711.47 sold, no fees
    assert hunt.realized_pnl == pytest.approx(98_711.47 - 100_200.1)
    assert hunt.pnl == pytest.approx(-1_488.63)
    assert hunt.fees == 0.0
    assert not hunt.success  # the target was reached, but at a loss
    assert model.perp.position_lots(whale.account) == 0


def test_hunt_table_gives_the_record_as_a_row():
    model, whale = hand_market()
    for _ in range(5):
        model.step()
    table = hunt_table(whale.hunts)
    assert list(table.columns) == list(HUNT_COLUMNS)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["whale"], row["side"], row["outcome"]) == (whale.account, "long",
                                                           "target reached")
    assert row["stops_triggered_notional"] == pytest.approx(29_538.99)
    assert row["liquidated_notional"] == pytest.approx(196_860.0)
    assert row["pnl"] == pytest.approx(-1_488.63)
