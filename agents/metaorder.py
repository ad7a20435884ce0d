"""A metaorder: one large order worked in even slices, a market order per step (TWAP).

The execution of a block by time slicing (Almgren & Chriss 2000, 'Optimal execution of
portfolio transactions', the risk-neutral TWAP limit): ``notional_usd`` bought (or sold) on one
venue over ``over_s`` seconds from ``start_s``. Slices are one per step, at the steps whose
time ``t`` satisfies ``start_s < t <= start_s + over_s``; there are
``n = max(1, round(over_s / step_s))`` of them. The ``k``-th slice brings the notional done up
to ``k / n`` of the target: its size is the largest number of lots whose cost on the book now
(``Exchange.market_order_cost``) does not take the notional done past ``notional_usd * k / n``,
sent as a MARKET order. So the notional done never exceeds the target and ends within one lot
of it (whatever a slice's sweep of the book cost), and a slice that found the book empty is
made up by the next. Fees are apart. The agent draws no random number.
"""

from __future__ import annotations

from agents import stages
from agents.base import Trader
from sim.exchange import BUY, MARKET, SELL, Status
from sim.model import MarketModel

_EPS = 1e-9


class Metaorder(Trader):
    """One metaorder on ``venue``, with its own well-funded account there.

    Args:
        model: the market.
        notional_usd: the notional to trade (USD, > 0).
        over_s: seconds over which it is sliced (> 0).
        start_s: the time after which the first slice goes (>= 0).
        side: BUY or SELL.
        venue: "perp" or "spot" (a scenario whose index is the spot book's mid).

    Attributes:
        account: the account id on the venue.
        n_slices: the slices planned.
        slices_done: the slices sent so far.
        done_usd: the notional filled so far (USD, sum of fill price x size).
        done_lots: the lots filled so far (unsigned).
        empty_slices: slices that found the opposite side empty or too dear for one lot.
        rejected_slices: slices the exchange rejected (a status other than OK).
    """

    kind = "metaorder"
    stage = stages.WHALE  # perp: after the makers and arbitrageurs, before the crowds

    def __init__(self, model: MarketModel, *, notional_usd: float, over_s: float,
                 start_s: float, side: int = BUY, venue: str = "perp") -> None:
        if not notional_usd > 0:
            raise ValueError(f"notional_usd must be > 0, got {notional_usd!r}")
        if not over_s > 0:
            raise ValueError(f"over_s must be > 0, got {over_s!r}")
        if not start_s >= 0:
            raise ValueError(f"start_s must be >= 0, got {start_s!r}")
        if side not in (BUY, SELL):
            raise ValueError(f"side must be BUY or SELL, got {side!r}")
        super().__init__(model)
        self.trade_on(venue)
        self.notional_usd = float(notional_usd)
        self.over_s = float(over_s)
        self.start_s = float(start_s)
        self.side = side
        self.n_slices = max(1, round(self.over_s / model.step_s))
        # Leverage 1 lifts every tier's cap; twice the notional in the wallet keeps the
        # account far from liquidation whatever the metaorder moves.
        self.account = int(self.open_accounts(1, 2.0 * self.notional_usd + 1e6, 1.0, venue)[0])
        self.slices_done = 0
        self.done_usd = 0.0
        self.done_lots = 0
        self.empty_slices = 0
        self.rejected_slices = 0

    @property
    def end_s(self) -> float:
        """Return the time of the last slice (seconds)."""
        return self.start_s + self.over_s

    def act(self) -> None:
        """Send this step's slice, if the metaorder is working now."""
        t = self.model.t
        if t <= self.start_s + _EPS or self.slices_done >= self.n_slices:
            return
        self.slices_done += 1
        target_usd = self.notional_usd * self.slices_done / self.n_slices
        lots = self.slice_lots(target_usd - self.done_usd)
        if lots == 0:
            self.empty_slices += 1
            return
        result = self.exchange.submit(self.account, self.side, MARKET, lots)
        if result.status is not Status.OK or result.filled == 0:
            self.rejected_slices += 1
            return  # a reject changes nothing; the next slice makes it up
        config = self.exchange.config
        value_ticks_lots = int((result.fills["price"] * result.fills["qty"]).sum())
        self.done_usd += value_ticks_lots * config.tick_size * config.lot_size
        self.done_lots += int(result.filled)

    def slice_lots(self, budget_usd: float) -> int:
        """Return the most lots whose market order costs at most ``budget_usd`` on the book now.

        A bisection on ``Exchange.market_order_cost`` (nothing is sent); 0 when even one lot
        costs more, or when the opposite side is empty.
        """
        ex = self.exchange
        usd_per_value = ex.config.tick_size * ex.config.lot_size
        best = ex.best_ask_ticks() if self.side == BUY else ex.best_bid_ticks()
        if best is None or budget_usd <= 0:
            return 0
        # Buying, every lot costs at least the best ask: the budget bounds the lots from above.
        # Selling, every lot fetches at most the best bid, so that bound is below; double it.
        hi = int(budget_usd / (best * usd_per_value) + _EPS)
        if self.side == SELL:
            hi = 2 * hi + 1
            while self._cost_usd(hi)[1] <= budget_usd and self._cost_usd(hi)[0] == hi:
                hi *= 2
        lo = 0
        while lo < hi:
            mid = (lo + hi + 1) // 2
            filled, cost_usd = self._cost_usd(mid)
            if filled == mid and cost_usd <= budget_usd + _EPS:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _cost_usd(self, lots: int) -> tuple[int, float]:
        ex = self.exchange
        filled, value = ex.market_order_cost(self.side, lots)
        return filled, value * ex.config.tick_size * ex.config.lot_size


__all__ = ["Metaorder"]
