"""Carry traders: slow, capital-limited basis traders who hold a hedged position for funding.

The cash-and-carry trade of the perpetual markets (BitMEX Research, 'The basis trade'; Binance
Academy, 'What is the basis trade'): when the perpetual trades at a premium to spot, longs pay
funding, so a carry trader sells the perpetual, buys the same quantity of spot, holds the
hedged pair and collects funding; it unwinds when the premium is gone. At a discount it does
the mirror trade (buy the perpetual, sell spot). Unlike the fast arbitrageur
(``agents.arbitrageur``), it needs a premium before it takes the other side, looks rarely and
has limited capital.

The crowd is one mesa agent owning ``count`` traders, each with a perp account and an account
on the major spot venue (``model.spot``). Decisions arrive as a Poisson process of
``rate_per_s`` for the whole crowd, drawn from the stream ``"perp/carry"`` as the crowds of
``agents.flow`` draw theirs; each is taken by a trader drawn uniformly, so a step costs time in
proportion to the decisions drawn, not to ``count``. At a decision the trader:

1. first closes any unhedged excess: when its legs differ by a lot or more (one leg filled
   less than the other, or one was liquidated), the larger leg is cut to the smaller (IOC,
   reduce-only), and that is the decision;
2. reads the premium ``p = perp mid / index - 1``;
3. ``p > entry_bps``: sells ``clip_notional`` of perp (at the index) within its position
   limit, then buys on spot the BTC quantity the perp leg filled; ``p < -entry_bps``: the
   mirror trade. The limit is ``max_position_notional`` times ``min(1, (|p| - entry_bps) /
   (full_bps - entry_bps))``: basis capital is an upward-sloping supply (Shleifer & Vishny
   1997, 'The limits of arbitrage': capital-constrained arbitrageurs commit more the wider
   the spread), so a crowd that keeps buying lifts the premium smoothly, instead of
   meeting free capital up to a wall and none past it. Without ``full_bps`` the whole
   capital is committed from ``entry_bps``;
4. ``|p| < exit_bps`` with a position: closes one clip of the perp leg (reduce-only), then the
   same BTC quantity of the spot leg.

Every order is an IOC limited to ``slippage_bps`` through the touch of its book. A decision
whose hedge book has no touch on the side it would take is skipped.

The signal is the mid premium, not the predicted funding rate. The funding rate is the premium
average plus ``clamp(interest - premium, +/-0.05 %)`` (Binance, 'Introduction to Binance
Futures Funding Rates'): it sits at the interest rate (0.01 % per 8 h) for any average premium
within about +/-5 bp, so it cannot tell a 3 bp premium from none, and an exit below 1 bp would
never fire; it is also an average over the interval, hours behind the book. The mid premium is
what a trader locks in: a clip sold at premium ``p`` and bought back at none earns ``p`` besides
the funding collected meanwhile.

The crowd acts in ``stages.VALUE``, after the fast arbitrageurs have taken what they take. The
spot book matches an order when it is submitted, so the spot leg fills in the same step as the
perp leg, at the spot book's prices of that moment; what only the spot stage does is the
venue's bookkeeping: its ``settle`` (stops and liquidations of spot accounts) and the spot
flow the model publishes from the fills drained after it. The carry's spot fills are therefore
settled and published with the next step's spot stage, and the next step's index reads the book
they left, as for the fast arbitrageur's hedge.
"""

from __future__ import annotations

from agents import stages
from agents.base import Trader, limit_ticks
from agents.flow import RandomBlocks
from agents.params import CarryParams
from sim.exchange import BUY, IOC, SELL, Exchange
from sim.model import MarketModel

BPS = 1e-4
_EPS = 1e-9  # absorbs float error when a size converts to a whole number of lots


class CarryTraders(Trader):
    """``count`` carry traders, each with a perp account and a spot account (one mesa agent).

    Args:
        model: the market; it needs a spot book (``model.spot``) to hedge on.
        params: ``CarryParams``.

    Attributes:
        perp_accounts, spot_accounts: trader ``i``'s account on each venue.
        draws: the crowd's random stream (``"perp/carry"``), in blocks.
    """

    kind = "carry"
    stage = stages.VALUE

    def __init__(self, model: MarketModel, params: CarryParams) -> None:
        if model.spot is None:
            raise ValueError("carry traders hedge on a spot book: the model has none "
                             "(an exogenous index)")
        if params.count < 1:
            raise ValueError(f"count must be >= 1 (the builder creates no crowd for 0), "
                             f"got {params.count}")
        super().__init__(model)
        self.params = params
        self.perp_accounts = self.open_accounts(params.count, params.wallet,
                                                params.leverage).tolist()
        self.spot_accounts = self.open_accounts(params.count, params.wallet, params.leverage,
                                                "spot").tolist()
        self.draws = RandomBlocks(model.random_stream("perp/carry"))

    def act(self) -> None:
        """Draw this step's decisions; each is taken by a trader drawn uniformly."""
        n_traders = len(self.perp_accounts)
        for _ in range(self.draws.arrivals(self.params.rate_per_s * self.model.step_s)):
            self.decide(min(int(self.draws.uniform() * n_traders), n_traders - 1))

    def premium(self) -> float | None:
        """Return ``perp mid / index - 1``, or None when the perp book has an empty side."""
        mid = self.model.perp.mid_price
        return None if mid is None else mid / self.model.index - 1.0

    def decide(self, i: int) -> None:
        """Take trader ``i``'s decision (the module docstring's rule)."""
        if self.rebalance(i):
            return
        premium = self.premium()
        if premium is None:
            return
        p = self.params
        position = self.model.perp.position_lots(self.perp_accounts[i])
        if premium > p.entry_bps * BPS:
            self.open_clip(i, SELL, position, premium)
        elif premium < -p.entry_bps * BPS:
            self.open_clip(i, BUY, position, premium)
        elif abs(premium) < p.exit_bps * BPS and position != 0:
            self.close_clip(i, position)

    def rebalance(self, i: int) -> bool:
        """Cut trader ``i``'s larger leg to minus the smaller one (in BTC) when they differ by
        a lot or more; return whether they did."""
        m = self.model
        perp, spot = m.perp, m.spot
        perp_btc = perp.position_lots(self.perp_accounts[i]) * perp.config.lot_size
        spot_btc = spot.position_lots(self.spot_accounts[i]) * spot.config.lot_size
        excess_btc = perp_btc + spot_btc
        if abs(perp_btc) >= abs(spot_btc):
            exchange, account = perp, self.perp_accounts[i]
        else:
            exchange, account = spot, self.spot_accounts[i]
        lots = int(abs(excess_btc) / exchange.config.lot_size + _EPS)
        if lots == 0:
            return False
        self._take(exchange, account, SELL if excess_btc > 0 else BUY, lots, reduce_only=True)
        return True

    def position_limit_notional(self, premium: float) -> float:
        """Return the capital a trader commits at ``premium`` (USD, each leg): the whole of
        ``max_position_notional`` past ``full_bps``, a linear share of it from ``entry_bps``
        (the module docstring's supply of basis capital)."""
        p = self.params
        if p.full_bps is None or p.full_bps == p.entry_bps:
            return p.max_position_notional
        share = (abs(premium) / BPS - p.entry_bps) / (p.full_bps - p.entry_bps)
        return p.max_position_notional * min(1.0, max(0.0, share))

    def open_clip(self, i: int, side: int, position: int, premium: float) -> None:
        """Trade one clip of ``side`` on the perp within the position limit at ``premium``,
        then the opposite side on spot for the BTC quantity the perp leg filled."""
        p = self.params
        m = self.model
        if self._touch(m.spot, -side) is None:
            return  # no spot to hedge with: the perp leg would stay naked
        lot = m.perp.config.lot_size
        max_lots = int(self.position_limit_notional(premium) / (m.index * lot) + _EPS)
        lots = min(int(p.clip_notional / (m.index * lot) + _EPS), max_lots - side * position)
        if lots <= 0:
            return
        filled = self._take(m.perp, self.perp_accounts[i], side, lots, reduce_only=False)
        self._hedge(i, -side, filled * lot, reduce_only=False)

    def close_clip(self, i: int, position: int) -> None:
        """Close one clip of the perp leg, then the same BTC quantity of the spot leg."""
        m = self.model
        side = SELL if position > 0 else BUY
        if self._touch(m.spot, -side) is None:
            return
        lot = m.perp.config.lot_size
        lots = min(abs(position), int(self.params.clip_notional / (m.index * lot) + _EPS))
        if lots <= 0:
            return
        filled = self._take(m.perp, self.perp_accounts[i], side, lots, reduce_only=True)
        self._hedge(i, -side, filled * lot, reduce_only=True)

    def _hedge(self, i: int, side: int, qty_btc: float, reduce_only: bool) -> None:
        """Trade ``qty_btc`` of ``side`` on trader ``i``'s spot account (whole spot lots)."""
        spot = self.model.spot
        lots = int(qty_btc / spot.config.lot_size + _EPS)
        if lots > 0:
            self._take(spot, self.spot_accounts[i], side, lots, reduce_only)

    @staticmethod
    def _touch(exchange: Exchange, side: int) -> int | None:
        """Return the best price (ticks) a taker of ``side`` meets, or None."""
        return exchange.best_ask_ticks() if side == BUY else exchange.best_bid_ticks()

    def _take(self, exchange: Exchange, account: int, side: int, lots: int,
              reduce_only: bool) -> int:
        """Send an IOC at most ``slippage_bps`` through the touch; return the lots filled (0
        with no touch, or on a reject such as margin: the state is unchanged)."""
        touch = self._touch(exchange, side)
        if touch is None:
            return 0
        tick = exchange.config.tick_size
        limit = limit_ticks(touch * tick * (1.0 + side * self.params.slippage_bps * BPS), side,
                            tick)
        return exchange.submit(account, side, IOC, lots, limit, reduce_only=reduce_only).filled


__all__ = ["CarryTraders"]
