"""Cross-venue arbitrageurs: they buy spot where it is cheap and sell it where it is dear.

Prices of one coin on several exchanges are tied together by arbitrageurs, within what it costs
to trade (Makarov & Schoar 2020, 'Trading and arbitrage in cryptocurrency markets'). Each step,
for each ordered pair of spot venues (A, B), when A's best bid exceeds B's best ask by more
than the threshold and both taker fees,

    bid_A > ask_B * (1 + threshold_bps * 1e-4 + taker_fee_A + taker_fee_B),

the arbitrageur buys on B and sells on A with IOC orders limited to those two prices. The size
is the smaller of the two top-of-book sizes and ``clip_notional`` (at ``ask_B``), cut so that
neither venue's position passes ``max_inventory_notional`` (at the trade's price); the sell leg
is as large as the buy leg filled. It keeps one account per venue and no transfers between
them: it holds a long on the venue it bought on and a short on the one it sold on (held on
margin, like the other spot agents' shorts), and its inventory comes back only through the
opposite crossing. It acts in ``stages.SPOT`` after the venues' own agents (it is created
after them) and draws no randomness.
"""

from __future__ import annotations

from agents import stages
from agents.base import Trader
from agents.params import VenueArbitrageParams
from sim.exchange import BUY, IOC, SELL, Status
from sim.model import MarketModel

BPS = 1e-4
_EPS = 1e-9  # absorbs float error when a size converts to a whole number of lots


class VenueArbitrageur(Trader):
    """One cross-venue arbitrageur with one account on each spot venue.

    Args:
        model: the market (with at least two spot venues to act on).
        params: ``VenueArbitrageParams`` (``wallet`` is funded on each venue; ``count`` is the
            builder's business: one agent per arbitrageur).

    Attributes:
        accounts: its account on each spot venue, in ``model.spots`` order.
    """

    kind = "venue_arbitrageur"
    stage = stages.SPOT

    def __init__(self, model: MarketModel, params: VenueArbitrageParams) -> None:
        super().__init__(model)
        self.params = params
        self.accounts = [int(self.open_accounts(1, params.wallet, params.leverage, name)[0])
                         for name in model.spot_names]

    def act(self) -> None:
        """Trade every ordered pair of venues whose quotes cross by more than the costs."""
        n = len(self.accounts)
        for sell_on in range(n):
            for buy_on in range(n):
                if sell_on != buy_on:
                    self.arbitrage(sell_on, buy_on)

    def arbitrage(self, sell_on: int, buy_on: int) -> None:
        """Buy at venue ``buy_on``'s best ask and sell at venue ``sell_on``'s best bid (indices
        into ``model.spots``) when the bid exceeds the ask by the threshold and both taker
        fees (the module docstring's rule)."""
        p = self.params
        seller, buyer = self.model.spots[sell_on], self.model.spots[buy_on]
        bid, ask = seller.best_bid_ticks(), buyer.best_ask_ticks()
        if bid is None or ask is None:
            return
        sell_cfg, buy_cfg = seller.config, buyer.config
        bid_usd, ask_usd = bid * sell_cfg.tick_size, ask * buy_cfg.tick_size
        costs = p.threshold_bps * BPS + sell_cfg.taker_fee + buy_cfg.taker_fee
        if bid_usd <= ask_usd * (1.0 + costs):
            return
        sell_account, buy_account = self.accounts[sell_on], self.accounts[buy_on]
        held_sell_btc = seller.position_lots(sell_account) * sell_cfg.lot_size
        held_buy_btc = buyer.position_lots(buy_account) * buy_cfg.lot_size
        size_btc = min(seller.depth(BUY, 1)[1][0] * sell_cfg.lot_size,
                       buyer.depth(SELL, 1)[1][0] * buy_cfg.lot_size,
                       p.clip_notional / ask_usd,
                       p.max_inventory_notional / ask_usd - held_buy_btc,
                       p.max_inventory_notional / bid_usd + held_sell_btc)
        lots = int(size_btc / buy_cfg.lot_size + _EPS)
        if lots <= 0:
            return
        bought = buyer.submit(buy_account, BUY, IOC, lots, ask)
        if bought.status is not Status.OK or bought.filled == 0:
            return  # a reject (margin) leaves both venues as they were: retried next step
        sell_lots = int(bought.filled * buy_cfg.lot_size / sell_cfg.lot_size + _EPS)
        if sell_lots > 0:
            seller.submit(sell_account, SELL, IOC, sell_lots, bid)


__all__ = ["VenueArbitrageur"]
