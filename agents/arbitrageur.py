"""Basis arbitrageurs: they sell the perpetual and buy spot when it trades rich, and the reverse.

The cash-and-carry trade (see e.g. BitMEX Research, 'The basis trade', and Binance Academy,
'What is the basis trade'): when the perpetual's premium over the index exceeds a threshold,
short the perpetual and hedge with a long spot position of the same size; unwind when the
premium has reverted. Each look (every ``interval_s``):

- ``premium = (perp mid - index) / index``;
- ``premium > threshold_bps``: sell ``clip_notional`` of perp (IOC, no lower than
  ``index * (1 + exit_bps)``); ``premium < -threshold_bps``: buy (no higher than
  ``index * (1 - exit_bps)``), so every clip is struck at a basis of at least ``exit_bps``;
- ``|premium| < exit_bps``: close the perp position by one clip per look (IOC, reduce-only,
  no worse than ``index * (1 +/- exit_bps)``);
- the position never exceeds ``max_position_notional``: capital is limited, so a premium that
  outgrows the arbitrageurs' capital stays, and funding can run away;
- with a spot book, the spot account is brought to the opposite of the perp position (IOC on
  spot, at most ``hedge_slippage_bps`` from the spot mid); a hedge left short by a partial fill
  is completed at the next look. With a basket of spot venues the hedge is on the major one
  (``model.spot``); the cross-venue arbitrageurs (``agents.venue_arbitrage``) carry it on.
  With an exogenous index (``model.spot is None``) the perp leg alone is traded: a basis bet
  on convergence to the index.
"""

from __future__ import annotations

from agents import stages
from agents.base import Trader, limit_ticks
from agents.params import ArbitrageurParams
from sim.exchange import BUY, IOC, SELL, Status
from sim.model import MarketModel

BPS = 1e-4
_EPS = 1e-9


class Arbitrageur(Trader):
    """One basis arbitrageur: a perp account and, with a spot book, a spot account.

    Args:
        model: the market.
        params: ``ArbitrageurParams`` (``wallet`` is funded on each venue; ``count`` is the
            builder's business: one agent per arbitrageur).
        venue: must be "perp" (the agent always trades the perp; spot is its hedge).

    Attributes:
        perp_account, spot_account: account ids (``spot_account`` is None without spot).
        trades: IOC orders that filled something.
    """

    kind = "arbitrageur"
    stage = stages.ARBITRAGE

    def __init__(self, model: MarketModel, params: ArbitrageurParams,
                 venue: str = "perp") -> None:
        super().__init__(model)
        if venue != "perp":
            raise ValueError(f"an arbitrageur trades the perp (venue='perp'), got {venue!r}")
        self.params = params
        self.perp_account = int(self.open_accounts(1, params.wallet, params.leverage)[0])
        self.spot_account: int | None = None
        if model.spot is not None:
            self.spot_account = int(
                self.open_accounts(1, params.wallet, params.leverage, "spot")[0])
        self.trades = 0
        self._next_t = model.t

    def premium(self) -> float | None:
        """Return ``(perp mid - index) / index``, or None when the perp book has an empty side."""
        mid = self.model.perp.mid_price
        if mid is None:
            return None
        return (mid - self.model.index) / self.model.index

    def act(self) -> None:
        """Every ``interval_s``: open, add to or close the basis trade, then hedge on spot."""
        m = self.model
        if m.t + _EPS < self._next_t:
            return
        self._next_t = m.t + self.params.interval_s
        premium = self.premium()
        if premium is not None:
            p = self.params
            position = m.perp.position_lots(self.perp_account)
            if premium > p.threshold_bps * BPS:
                self._open(SELL, position)
            elif premium < -p.threshold_bps * BPS:
                self._open(BUY, position)
            elif abs(premium) < p.exit_bps * BPS and position != 0:
                self._close(position)
        if self.spot_account is not None:
            self._hedge()

    def _open(self, side: int, position: int) -> None:
        """Trade one clip of ``side`` on the perp, within the capital limit."""
        p = self.params
        perp = self.model.perp
        index = self.model.index
        lot = perp.config.lot_size
        max_lots = int(p.max_position_notional / (index * lot) + _EPS)
        lots = min(int(p.clip_notional / (index * lot) + _EPS), max_lots - side * position)
        if lots <= 0:
            return
        limit = limit_ticks(index * (1.0 - side * p.exit_bps * BPS), side, perp.config.tick_size)
        self._take(perp, self.perp_account, side, lots, limit, reduce_only=False)

    def _close(self, position: int) -> None:
        """Unwind one clip of the perp position."""
        p = self.params
        perp = self.model.perp
        index = self.model.index
        side = SELL if position > 0 else BUY
        lots = min(abs(position), int(p.clip_notional / (index * perp.config.lot_size) + _EPS))
        if lots <= 0:
            return
        limit = limit_ticks(index * (1.0 + side * p.exit_bps * BPS), side, perp.config.tick_size)
        self._take(perp, self.perp_account, side, lots, limit, reduce_only=True)

    def _hedge(self) -> None:
        """Bring the spot position to minus the perp position (in BTC)."""
        m = self.model
        spot = m.spot
        perp_btc = m.perp.position_lots(self.perp_account) * m.perp.config.lot_size
        target = int(round(-perp_btc / spot.config.lot_size))
        gap = target - spot.position_lots(self.spot_account)
        if gap == 0:
            return
        side = BUY if gap > 0 else SELL
        ref = spot.mid_price or spot.last_price or m.index
        limit = limit_ticks(ref * (1.0 + side * self.params.hedge_slippage_bps * BPS), side,
                             spot.config.tick_size)
        self._take(spot, self.spot_account, side, abs(gap), limit, reduce_only=False)

    def _take(self, exchange, account: int, side: int, lots: int, limit: int,
              reduce_only: bool) -> None:
        result = exchange.submit(account, side, IOC, lots, limit, reduce_only=reduce_only)
        if result.status is Status.OK and result.filled > 0:
            self.trades += 1
        # A reject (margin, position limit) leaves the state unchanged: retried next look.


__all__ = ["Arbitrageur"]
