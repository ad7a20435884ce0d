"""The exchange facade: the one object agents call.

It owns the perpetual's order book, the margin accounts, the mark price, funding and the
liquidation engine. Agents submit and cancel orders, read their own account and the public
data (last, mark and index prices, funding, open interest, depth, recent trades). A step is
``begin_step(t, index)`` (the clock and the index move, the premium is sampled), then the
agents' orders, then ``settle()`` (stops and liquidations cascade, funding at funding times).

Prices cross this API in integer ticks (``to_ticks`` converts), quantities in integer lots.
Agents read through the O(1) accessors (``position_lots``, ``wallet_usd``, ``resting_lots``,
``order_resting_lots``, ``best_bid_ticks``, ...), never the arrays: a column can move in
``layouts`` without touching an agent. ``account()`` gives a whole snapshot, for reports.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sim.exchange import accounts as ac
from sim.exchange import layouts as lay
from sim.exchange.book import (
    KERNEL_ARGUMENT_ERRORS,
    OrderBook,
    OrderResult,
    as_int64,
    check_int,
    check_side,
    crossed,
    is_number,
    market_value,
    order_fields,
)
from sim.exchange.codes import (
    BUY,
    CROSS_MARGIN,
    ISOLATED_MARGIN,
    NEED_FILL_CAPACITY,
    NEED_HEAP_CAPACITY,
    NEED_LIQUIDATION_CAPACITY,
    OK,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Status,
)
from sim.exchange.engine import (
    exchange_cancel,
    exchange_submit,
    open_interest_lots,
    settle_triggers,
    update_mark_price,
)
from sim.exchange.funding import average_premium, sample_premium, settle_funding
from sim.exchange.heap import grow_heaps
from sim.exchange.layouts import (
    A_ENTRY,
    A_FEES,
    A_MAX_NOTIONAL,
    A_POS_MARGIN,
    A_REALIZED,
    A_WALLET,
    FILL_DTYPE,
    FUNDING_DTYPE,
    I_POSITION,
    LIQUIDATION_DTYPE,
    M_BEST_ASK,
    M_BEST_BID,
    M_LAST_PRICE,
    M_MESSAGES,
    M_N_ASKS,
    M_N_BIDS,
    M_N_FILLS,
    M_STOP_SIZES,
    NO_PRICE,
    O_ID,
    O_PRICE,
    O_QTY,
    SLOT_MASK,
    W_BUY_LOTS,
    W_SELL_LOTS,
)
from sim.exchange.liquidation import rebuild_liquidation_index
from sim.exchange.perp import (
    BTCUSDT_TIERS,
    MarginTier,
    funding_rate,
    max_position_notional,
    tier_arrays,
)


@dataclass(frozen=True)
class ExchangeConfig:
    """Contract and venue rules. Defaults follow Binance's BTCUSDT perpetual."""

    tick_size: float = 0.1
    lot_size: float = 0.001
    maker_fee: float = 0.0002
    taker_fee: float = 0.0005
    tiers: tuple[MarginTier, ...] = BTCUSDT_TIERS
    funding_interval_s: float = 8 * 3600.0
    interest_rate: float = 0.0001
    funding_clamp: float = 0.0005
    funding_cap: float = 0.003
    impact_notional: float = 25_000.0  # 200 USDT of margin at the top tier's 125x
    mark_basis_window_s: float = 300.0
    liquidation_trigger: int = TRIGGER_MARK
    clearance_fee_rate: float = 0.0125
    insurance_fund: float = 0.0
    max_trigger_passes: int = 64
    initial_price: float = 100_000.0
    price_levels: int = 1 << 17
    price_band: float = 0.5  # limit and stop prices within mark x (1 -+ band); see below

    def __post_init__(self) -> None:
        positive = ("tick_size", "lot_size", "funding_interval_s", "impact_notional",
                    "mark_basis_window_s", "initial_price")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        non_negative = ("interest_rate", "funding_clamp", "funding_cap", "clearance_fee_rate",
                        "insurance_fund")
        for name in non_negative:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("maker_fee", "taker_fee"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and -0.01 < value < 0.01):
                raise ValueError(f"{name} must be a rate in (-0.01, 0.01), got {value!r}")
        if self.maker_fee + self.taker_fee < 0:
            raise ValueError("maker_fee + taker_fee must be >= 0 (the venue cannot pay to trade)")
        if self.liquidation_trigger not in (TRIGGER_MARK, TRIGGER_LAST):
            raise ValueError(
                f"liquidation_trigger must be Trigger.MARK or Trigger.LAST, "
                f"got {self.liquidation_trigger!r}")
        for name in ("max_trigger_passes", "price_levels"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        # A percent-price filter, as venues apply one (Binance USDⓈ-M Futures, 'Filters',
        # PERCENT_PRICE; about +-5% on BTCUSDT); ours is looser and mainly bounds the ladder.
        band = self.price_band
        if not (is_number(band) and 0 < band < 1):
            raise ValueError(f"price_band must be a number in (0, 1), got {band!r}")
        tier_arrays(self.tiers)  # validates the table


@dataclass(frozen=True)
class AccountView:
    """A snapshot of one account, in USD and lots."""

    account: int
    wallet: float
    position_lots: int
    entry_price: float
    leverage: float
    margin_mode: int
    position_margin: float
    liquidation_price: float
    realized_pnl: float
    fees: float
    funding: float
    n_liquidations: int
    unrealized_pnl: float
    available: float


class SettleReport(NamedTuple):
    """What one ``settle`` did."""

    passes: int
    liquidations: int
    funding_settled: bool


@dataclass
class _Logs:
    fills: list[np.ndarray] = field(default_factory=list)
    liquidations: list[np.ndarray] = field(default_factory=list)
    funding: list[tuple] = field(default_factory=list)


class Exchange:
    """A perpetual-futures venue for one contract.

    Args:
        config: contract and venue rules.
        account_capacity: initial room for accounts; it grows as accounts open.
    """

    def __init__(self, config: ExchangeConfig | None = None, account_capacity: int = 1024) -> None:
        self.config = config = config or ExchangeConfig()
        if not (is_number(account_capacity) and math.isfinite(account_capacity)
                and account_capacity == int(account_capacity) and account_capacity >= 1):
            raise ValueError(f"account_capacity must be an integer >= 1, got {account_capacity!r}")
        center = int(round(config.initial_price / config.tick_size))
        self.book = OrderBook(n_accounts=int(account_capacity), center_tick=center,
                              n_levels=config.price_levels)
        self.tiers = np.vstack(tier_arrays(config.tiers)).copy()
        self.acct_f, self.acct_i = ac.new_account_arrays(int(account_capacity))
        self.ex_f = np.zeros(lay.N_EX_F, dtype=np.float64)
        self.ex_i = np.zeros(lay.N_EX_I, dtype=np.int64)
        f, i = self.ex_f, self.ex_i
        f[lay.X_TICK_SIZE] = config.tick_size
        f[lay.X_LOT_SIZE] = config.lot_size
        f[lay.X_MAKER_FEE] = config.maker_fee
        f[lay.X_TAKER_FEE] = config.taker_fee
        f[lay.X_CLEARANCE_FEE] = config.clearance_fee_rate
        f[lay.X_INSURANCE_FUND] = config.insurance_fund
        f[lay.X_DEPOSITS] = config.insurance_fund
        f[lay.X_IMPACT_NOTIONAL] = config.impact_notional
        f[lay.X_INDEX] = config.initial_price
        f[lay.X_MARK] = config.initial_price
        f[lay.X_FUNDING_FRAC] = 1.0
        f[lay.X_PRICE_BAND] = config.price_band
        i[lay.XI_DIRTY_HEAD] = lay.END_OF_LIST
        i[lay.XI_LIQ_TRIGGER] = config.liquidation_trigger
        i[lay.XI_MAX_PASSES] = config.max_trigger_passes
        self.lkeys = np.zeros((2, 1024), dtype=np.float64)
        self.lvals = np.zeros((2, 1024), dtype=np.int64)
        self.liqs = np.zeros(256, dtype=LIQUIDATION_DTYPE)
        self.next_funding_t = config.funding_interval_s
        self._basis = deque()
        self._basis_sum = 0.0
        self._logs = _Logs()
        self._recent = np.zeros(0, dtype=FILL_DTYPE)
        self._bind()

    # ------------------------------------------------------------------ accounts

    @property
    def n_accounts(self) -> int:
        """Number of open accounts."""
        return int(self.ex_i[lay.XI_N_ACCOUNTS])

    def open_accounts(self, n: int, wallet: float, leverage: float,
                      margin_mode: int = ISOLATED_MARGIN) -> np.ndarray:
        """Open ``n`` accounts funded with ``wallet`` USD each; return their ids."""
        if not (is_number(n) and math.isfinite(n) and n == int(n) and n >= 1):
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        n = int(n)
        if not (is_number(wallet) and math.isfinite(wallet) and wallet >= 0):
            raise ValueError(f"wallet must be a finite number >= 0, got {wallet!r}")
        self._check_leverage(leverage)
        if as_int64(margin_mode) not in (ISOLATED_MARGIN, CROSS_MARGIN):
            raise ValueError(f"margin_mode must be ISOLATED_MARGIN or CROSS_MARGIN, got "
                             f"{margin_mode!r}")
        first = self.n_accounts
        last = first + int(n)
        if last > self.acct_f.shape[0]:
            self._grow_accounts(last)
        ids = np.arange(first, last)
        self.acct_f[ids, lay.A_WALLET] = wallet
        self.acct_f[ids, lay.A_DEPOSITS] = wallet
        self.acct_f[ids, lay.A_LEVERAGE] = leverage
        self.acct_f[ids, lay.A_MAX_NOTIONAL] = max_position_notional(leverage, self.config.tiers)
        self.acct_i[ids, lay.I_MODE] = margin_mode
        self.ex_i[lay.XI_N_ACCOUNTS] = last
        self.ex_f[lay.X_DEPOSITS] += wallet * n
        return ids

    def _grow_accounts(self, need: int) -> None:
        old = self.acct_f.shape[0]
        new = max(2 * old, need)
        acct_f, acct_i = ac.new_account_arrays(new)
        acct_f[:old] = self.acct_f
        acct_i[:old] = self.acct_i
        self.acct_f, self.acct_i = acct_f, acct_i
        self.book.add_accounts(new - old)
        self._bind()

    def account(self, account: int) -> AccountView:
        """Return a snapshot of ``account``."""
        self._check_account(account)
        f = self.acct_f[account]
        i = self.acct_i[account]
        upnl = float(i[lay.I_POSITION] * self.config.lot_size * (self.mark_price - f[lay.A_ENTRY])
                     if i[lay.I_POSITION] else 0.0)
        return AccountView(
            account=int(account), wallet=float(f[lay.A_WALLET]),
            position_lots=int(i[lay.I_POSITION]), entry_price=float(f[lay.A_ENTRY]),
            leverage=float(f[lay.A_LEVERAGE]), margin_mode=int(i[lay.I_MODE]),
            position_margin=float(f[lay.A_POS_MARGIN]),
            liquidation_price=float(f[lay.A_LIQ_PRICE]), realized_pnl=float(f[lay.A_REALIZED]),
            fees=float(f[lay.A_FEES]), funding=float(f[lay.A_FUNDING]),
            n_liquidations=int(i[lay.I_N_LIQUIDATIONS]), unrealized_pnl=upnl,
            available=float(f[lay.A_WALLET] - f[lay.A_POS_MARGIN]),
        )

    # O(1) reads of one account, for the agents' hot paths: no snapshot is built and
    # ``account`` is not checked (it must be an id ``open_accounts`` returned).

    def position_lots(self, account: int) -> int:
        """Return the account's position in lots, signed (> 0 long, < 0 short)."""
        return self.acct_i.item(account, I_POSITION)

    def positions_lots(self, accounts: np.ndarray) -> np.ndarray:
        """Return the positions of ``accounts`` (an integer array) in lots, as a new array."""
        return self.acct_i[accounts, I_POSITION]

    def entry_price_usd(self, account: int) -> float:
        """Return the position's average entry price (USD), 0.0 when flat."""
        return self.acct_f.item(account, A_ENTRY)

    def wallet_usd(self, account: int) -> float:
        """Return the wallet balance (USD): deposits, plus realized PnL, less fees and funding.

        It includes the margin posted for the position (``position_margin_usd``).
        """
        return self.acct_f.item(account, A_WALLET)

    def position_margin_usd(self, account: int) -> float:
        """Return the margin posted for the position (USD).

        It is the entry notional / leverage, released pro rata as the position closes; in
        isolated mode it is all the position can lose.
        """
        return self.acct_f.item(account, A_POS_MARGIN)

    def max_position_notional_usd(self, account: int) -> float:
        """Return the largest position notional (USD) the account's leverage allows (tiers)."""
        return self.acct_f.item(account, A_MAX_NOTIONAL)

    def realized_pnl_usd(self, account: int) -> float:
        """Return the PnL realized by the account's trades so far (USD; fees, funding apart)."""
        return self.acct_f.item(account, A_REALIZED)

    def fees_paid_usd(self, account: int) -> float:
        """Return the trading fees the account has paid so far (USD)."""
        return self.acct_f.item(account, A_FEES)

    def resting_lots(self, account: int, side: int) -> int:
        """Return the lots the account has resting in limit orders on ``side`` (stops apart)."""
        return self.book.owner.item(account, W_BUY_LOTS if side == BUY else W_SELL_LOTS)

    def set_leverage(self, account: int, leverage: float) -> None:
        """Change an account's leverage; allowed only while it is flat with no open orders."""
        self._check_account(account)
        self._check_leverage(leverage)
        if self.acct_i[account, lay.I_POSITION] != 0 or self.book.open_orders(account):
            raise ValueError(f"account {account} must be flat with no open orders to change "
                             "leverage")
        self.acct_f[account, lay.A_LEVERAGE] = leverage
        self.acct_f[account, lay.A_MAX_NOTIONAL] = max_position_notional(leverage,
                                                                        self.config.tiers)

    def _check_account(self, account: int) -> None:
        if not (as_int64(account) is not None and 0 <= account < self.n_accounts):
            raise ValueError(f"account must be an open account id in [0, {self.n_accounts}), "
                             f"got {account!r}")

    def _check_leverage(self, leverage: float) -> None:
        max_leverage = float(self.tiers[lay.T_MAX_LEVERAGE, 0])
        if not (is_number(leverage) and math.isfinite(leverage)
                and 1 <= leverage <= max_leverage):
            raise ValueError(f"leverage must be in [1, {max_leverage:g}], got {leverage!r}")

    # ------------------------------------------------------------------ orders

    def submit(self, account: int, side: int, kind: int, qty: int, price: int = 0,
               trigger: int = TRIGGER_MARK, reduce_only: bool = False) -> OrderResult:
        """Enter an order; return its status, id, lots filled and fills.

        ``price`` is in ticks: the limit price, or the stop price of a STOP_MARKET order, whose
        ``trigger`` says whether it watches the last or the mark price. Priced orders must lie
        within ``config.price_band`` of the mark. An invalid order is rejected with a status
        and changes nothing; so is a field of the wrong type (``sim.exchange.book.order_fields``).
        """
        if (type(account) is not int or type(side) is not int or type(kind) is not int
                or type(qty) is not int or type(price) is not int or type(trigger) is not int):
            status, fields = order_fields(account, side, kind, qty, price, trigger)
            if status:
                return OrderResult(status, 0, 0, _NO_FILLS)
            account, side, kind, qty, price, trigger = fields
        try:
            while True:
                status, oid, filled, start, end = exchange_submit(
                    *self._arrays, account, side, kind, qty, price, trigger, bool(reduce_only))
                if status >= 0:
                    break
                self.book.grow(status, price)
                self._bind()
        except KERNEL_ARGUMENT_ERRORS:
            # Only an int beyond int64 gets here: numba cannot type it (state unchanged).
            status, _ = order_fields(account, side, kind, qty, price, trigger)
            if not status:
                raise
            return OrderResult(status, 0, 0, _NO_FILLS)
        if end == start:
            return OrderResult(_STATUSES[status], oid, filled, _NO_FILLS)
        # A read-only copy through raw bytes: several times faster than copying records.
        fills = np.frombuffer(self._fills_raw[start:end].tobytes(), FILL_DTYPE)
        return OrderResult(_STATUSES[status], oid, filled, fills)

    def cancel(self, account: int, order_id: int) -> Status:
        """Cancel one of ``account``'s orders or stops by id.

        UNKNOWN_ORDER when the order is not live or not the account's, including when either
        argument is not an integer.
        """
        if type(account) is not int or type(order_id) is not int:
            account, order_id = as_int64(account), as_int64(order_id)
            if account is None or order_id is None:
                return Status.UNKNOWN_ORDER
        book = self.book
        try:
            return _STATUSES[exchange_cancel(book.orders, book.levels, book.meta, book.owner,
                                             account, order_id)]
        except KERNEL_ARGUMENT_ERRORS:
            if as_int64(account) is None or as_int64(order_id) is None:  # beyond int64
                return Status.UNKNOWN_ORDER
            raise

    def _bind(self) -> None:
        """Refresh the tuple of state arrays the order kernels take (after any array grows)."""
        book = self.book
        self._arrays = (book.orders, book.levels, book.meta, book.owner, book.fills, book.stops,
                        self.acct_f, self.acct_i, self.ex_f, self.ex_i)
        self._fills_raw = book.fills.view(np.int64).reshape(-1, len(FILL_DTYPE.names))

    # ------------------------------------------------------------------ time

    def begin_step(self, t_seconds: float, index_price: float, dt_seconds: float = 1.0) -> None:
        """Move the clock to ``t_seconds`` and the index to ``index_price``; sample the premium.

        The mark price's basis leg is the moving average of (mid - index) over the last
        ``mark_basis_window_s`` (Binance, 'Mark Price'); the funding leg uses the time left to
        the next funding.
        """
        if not (is_number(index_price) and math.isfinite(index_price) and index_price > 0):
            raise ValueError(f"index_price must be a finite number > 0, got {index_price!r}")
        if not (is_number(t_seconds) and math.isfinite(t_seconds)
                and t_seconds >= self.ex_f[lay.X_TIME]):
            raise ValueError(f"t_seconds must be a finite number that does not go backwards, "
                             f"got {t_seconds!r}")
        if not (is_number(dt_seconds) and math.isfinite(dt_seconds) and dt_seconds > 0):
            raise ValueError(f"dt_seconds must be a finite number > 0, got {dt_seconds!r}")
        cfg = self.config
        f = self.ex_f
        f[lay.X_TIME] = t_seconds
        f[lay.X_INDEX] = index_price
        mid = self.mid_price
        basis = (mid - index_price) if mid is not None else 0.0
        self._basis.append(basis)
        self._basis_sum += basis
        # The newest sample always stays, even when one step is longer than the window.
        while len(self._basis) > 1 and len(self._basis) * dt_seconds > cfg.mark_basis_window_s:
            self._basis_sum -= self._basis.popleft()
        f[lay.X_MA_BASIS] = self._basis_sum / len(self._basis)
        to_funding = max(self.next_funding_t - t_seconds, 0.0)
        f[lay.X_FUNDING_FRAC] = min(to_funding / cfg.funding_interval_s, 1.0)
        sample_premium(self.book.levels, self.book.meta, f)
        update_mark_price(self.book.meta, f)

    def settle(self) -> SettleReport:
        """Fire stops and liquidations until nothing triggers, then settle funding if it is due.

        When the clock passed several funding times in one step, each is settled (and logged)
        in turn, with the triggers run after each: a position liquidated by one payment does
        not pay the next. The premium samples of the step go to the first settlement; a later
        one has none, so its rate is the interest term alone (premium 0).
        """
        liqs_before = int(self.ex_i[lay.XI_N_LIQ_TOTAL])
        passes = self._run_triggers()
        funded = False
        while self.ex_f[lay.X_TIME] >= self.next_funding_t:
            self._settle_funding()
            passes += self._run_triggers()
            funded = True
        return SettleReport(passes, int(self.ex_i[lay.XI_N_LIQ_TOTAL]) - liqs_before, funded)

    def run_trigger_pass(self) -> tuple[int, bool]:
        """Run one pass of the trigger loop (cascades in micro-time): fire the stops and
        liquidations that the prices at the pass's start trigger; return (liquidations fired,
        whether the prices it left trigger more). Funding is left to ``settle``.

        Between two calls the caller may let liquidity providers requote, as they would in the
        milliseconds a real cascade takes; ``settle`` then runs whatever is left at once.
        """
        liqs_before = int(self.ex_i[lay.XI_N_LIQ_TOTAL])
        exhausted = int(self.ex_i[lay.XI_PASSES_EXHAUSTED])
        self.ex_i[lay.XI_MAX_PASSES] = 1
        try:
            self._run_triggers()
        finally:
            self.ex_i[lay.XI_MAX_PASSES] = self.config.max_trigger_passes
        pending = int(self.ex_i[lay.XI_PASSES_EXHAUSTED]) > exhausted
        self.ex_i[lay.XI_PASSES_EXHAUSTED] = exhausted  # stopping after one pass is the point
        return int(self.ex_i[lay.XI_N_LIQ_TOTAL]) - liqs_before, pending

    def _run_triggers(self) -> int:
        book = self.book
        self.ex_i[lay.XI_PASSES] = 0
        self.ex_i[lay.XI_PASS_OPEN] = 0
        self._compact_liquidation_index()
        while True:
            status = settle_triggers(
                book.orders, book.levels, book.meta, book.owner, book.fills, book.stops,
                self.acct_f, self.acct_i, self.ex_f, self.ex_i, self.lkeys, self.lvals,
                self.tiers, self.liqs)
            if status == OK:
                return int(self.ex_i[lay.XI_PASSES])
            if status == NEED_FILL_CAPACITY:
                book.fills = _grown(book.fills, int(book.meta[M_N_FILLS])
                                    + int(book.meta[M_N_BIDS] + book.meta[M_N_ASKS])
                                    + int(self.ex_i[lay.XI_N_POSITIONS]) + 2)
            elif status == NEED_HEAP_CAPACITY:
                need = int(self.ex_i[lay.XI_LIQ_HEAP_SIZES:lay.XI_LIQ_HEAP_SIZES + 2].max()
                           + self.ex_i[lay.XI_N_DIRTY])
                self.lkeys, self.lvals = grow_heaps(self.lkeys, self.lvals, need)
            elif status == NEED_LIQUIDATION_CAPACITY:
                self.liqs = _grown(self.liqs, 2 * self.liqs.shape[0])
            else:
                raise RuntimeError(f"settle_triggers returned unexpected status {status}")
            self._bind()

    def _compact_liquidation_index(self) -> None:
        """Rebuild the liquidation heaps when outdated entries outnumber live ones."""
        size = int(self.ex_i[lay.XI_LIQ_HEAP_SIZES] + self.ex_i[lay.XI_LIQ_HEAP_SIZES + 1])
        if size > 2 * int(self.ex_i[lay.XI_N_POSITIONS]) + 4096:
            self._rebuild_liquidation_index()

    def _rebuild_liquidation_index(self) -> None:
        need = int(self.ex_i[lay.XI_N_POSITIONS]) + 1
        if need > self.lkeys.shape[1]:
            self.lkeys, self.lvals = grow_heaps(self.lkeys, self.lvals, need)
        rebuild_liquidation_index(self.acct_f, self.acct_i, self.ex_f, self.ex_i, self.lkeys,
                                  self.lvals, self.tiers)

    def _settle_funding(self) -> None:
        cfg = self.config
        premium_avg = float(average_premium(self.ex_f))
        rate = funding_rate(premium_avg, cfg.interest_rate, cfg.funding_clamp, cfg.funding_cap)
        update_mark_price(self.book.meta, self.ex_f)
        paid = settle_funding(self.acct_f, self.acct_i, self.ex_f, self.ex_i, rate)
        self._logs.funding.append((self.next_funding_t, premium_avg, rate, self.mark_price, paid))
        self.next_funding_t += cfg.funding_interval_s
        self._rebuild_liquidation_index()

    # ------------------------------------------------------------------ public data

    def to_ticks(self, price: float) -> int:
        """Return ``price`` (USD) rounded to the nearest tick."""
        if not (is_number(price) and math.isfinite(price) and price > 0):
            raise ValueError(f"price must be a finite number > 0, got {price!r}")
        return int(round(price / self.config.tick_size))

    @property
    def time(self) -> float:
        """Current simulated time in seconds."""
        return float(self.ex_f[lay.X_TIME])

    @property
    def last_price(self) -> float | None:
        """Price of the latest trade (USD), or None before the first."""
        ticks = int(self.book.meta[M_LAST_PRICE])
        return ticks * self.config.tick_size if ticks else None

    @property
    def mid_price(self) -> float | None:
        """Mid of the best bid and ask (USD), or None when a side is empty."""
        bid, ask = self.book.best_bid(), self.book.best_ask()
        if bid is None or ask is None:
            return None
        return 0.5 * (bid + ask) * self.config.tick_size

    @property
    def mark_price(self) -> float:
        """Mark price (USD)."""
        return float(self.ex_f[lay.X_MARK])

    @property
    def index_price(self) -> float:
        """Index price (USD)."""
        return float(self.ex_f[lay.X_INDEX])

    @property
    def funding_rate(self) -> float:
        """Rate of the latest funding settlement."""
        return float(self.ex_f[lay.X_FUNDING_RATE])

    @property
    def premium(self) -> float:
        """Latest premium index sample."""
        return float(self.ex_f[lay.X_PREMIUM])

    @property
    def predicted_funding_rate(self) -> float:
        """Funding rate the interval's premium average would give if settled now."""
        cfg = self.config
        return funding_rate(float(average_premium(self.ex_f)), cfg.interest_rate,
                            cfg.funding_clamp, cfg.funding_cap)

    @property
    def open_interest(self) -> int:
        """Open interest in lots (total long size, equal to total short size)."""
        return int(self.ex_i[lay.XI_LONG_OI])

    @property
    def insurance_fund(self) -> float:
        """Insurance fund balance (USD)."""
        return float(self.ex_f[lay.X_INSURANCE_FUND])

    @property
    def messages(self) -> int:
        """Order-entry and cancel requests the book accepted so far."""
        return int(self.book.meta[M_MESSAGES])

    def depth(self, side: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (prices in ticks, lots) of the best ``n`` levels of ``side``."""
        return self.book.depth(side, n)

    def depth_to_price(self, taker_side: int, target_ticks: int) -> tuple[int, int]:
        """Return (lots, value in ticks x lots) a taker must take to move the best to a price."""
        return self.book.depth_to_price(taker_side, target_ticks)

    def best_bid_ticks(self) -> int | None:
        """Return the best bid (ticks), or None when no bid rests."""
        price = self.book.meta.item(M_BEST_BID)
        return None if price == NO_PRICE else price

    def best_ask_ticks(self) -> int | None:
        """Return the best ask (ticks), or None when no ask rests."""
        price = self.book.meta.item(M_BEST_ASK)
        return None if price == NO_PRICE else price

    def last_price_ticks(self) -> int | None:
        """Return the price of the latest trade (ticks), or None before the first."""
        return self.book.meta.item(M_LAST_PRICE) or None

    def market_order_cost(self, taker_side: int, qty_lots: int) -> tuple[int, int]:
        """Return (lots filled, value in ticks x lots) a market order would take from the book.

        A market order of ``qty_lots`` on ``taker_side``, now: it fills fewer lots when the
        opposite side holds fewer. Nothing is sent.
        """
        side = check_side(taker_side, "taker_side")
        lots = check_int("qty_lots", qty_lots, low=0)
        book = self.book
        filled, value = market_value(book.levels, book.meta, side, lots)
        return int(filled), int(value)

    def order_resting_lots(self, order_id: int) -> int:
        """Return the lots a live order or waiting stop has left, else 0.

        0 once the order is filled, cancelled or fired, and for an id that never rested.
        """
        orders = self.book.orders
        slot = order_id & SLOT_MASK
        if order_id <= 0 or slot >= orders.shape[0] or orders.item(slot, O_ID) != order_id:
            return 0
        return orders.item(slot, O_QTY)

    def resting_stop_notional_usd(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (sell stops, buy stops) notional per bin of ``edges`` (USD at the stop price).

        Both trigger sources count. A stop whose price falls outside ``edges`` is left out.
        One vectorized pass over the four stop heaps (heap ``h`` holds sell stops when ``h`` is
        even, buy stops when odd); entries of stops already fired or cancelled no longer match
        their slot's id and are skipped.
        """
        edges = np.asarray(edges, dtype=np.float64)
        book = self.book
        lot, tick = self.config.lot_size, self.config.tick_size
        n_bins = len(edges) - 1
        sell, buy = np.zeros(n_bins), np.zeros(n_bins)
        for h in range(4):
            size = book.meta.item(M_STOP_SIZES + h)
            if size == 0:
                continue
            ids = book.stops[h, :size, 1]
            slots = ids & SLOT_MASK
            inside = (ids > 0) & (slots < book.orders.shape[0])
            ids, slots = ids[inside], slots[inside]
            live = book.orders[slots, O_ID] == ids
            price = book.orders[slots[live], O_PRICE] * tick
            notional = book.orders[slots[live], O_QTY] * lot * price
            bins = np.searchsorted(edges, price, side="right") - 1
            keep = (bins >= 0) & (bins < n_bins)
            into = sell if h % 2 == 0 else buy
            into += np.bincount(bins[keep], weights=notional[keep], minlength=n_bins)
        return sell, buy

    def recent_trades(self, n: int = 100) -> np.ndarray:
        """Return the latest ``n`` fills (oldest first)."""
        n = check_int("n", n, low=0)
        if n == 0:
            return self._recent[:0].copy()
        pending = self.book.fills[: int(self.book.meta[M_N_FILLS])]
        both = np.concatenate([self._recent, pending]) if len(self._recent) else pending.copy()
        return both[-n:]

    def open_orders(self, account: int) -> list[int]:
        """Return the ids of ``account``'s resting orders and stops."""
        self._check_account(account)
        return self.book.open_orders(account)

    # ------------------------------------------------------------------ logs

    def drain_fills(self) -> np.ndarray:
        """Return the fills since the last drain and clear the log."""
        out = self.book.drain_fills()
        if len(out) >= _RECENT_FILLS:
            self._recent = out[-_RECENT_FILLS:]
        elif len(out):
            self._recent = np.concatenate([self._recent[len(out) - _RECENT_FILLS:], out])
        return out

    def drain_liquidations(self) -> np.ndarray:
        """Return the liquidation records since the last drain (``LIQUIDATION_DTYPE``)."""
        n = int(self.ex_i[lay.XI_N_LIQ])
        out = self.liqs[:n].copy()
        self.ex_i[lay.XI_N_LIQ] = 0
        return out

    def funding_history(self) -> np.ndarray:
        """Return every funding settlement so far (``FUNDING_DTYPE``)."""
        return np.array(self._logs.funding, dtype=FUNDING_DTYPE)

    # ------------------------------------------------------------------ invariants

    def total_money(self) -> float:
        """Return wallets + unrealized PnL + insurance fund + fees collected (USD).

        Unrealized PnL is summed at the mark price; since long and short sizes are equal the
        total does not depend on that price.
        """
        n = self.n_accounts
        f = self.acct_f[:n]
        pos = self.acct_i[:n, lay.I_POSITION].astype(np.float64)
        upnl = pos * self.config.lot_size * (self.mark_price - f[:, lay.A_ENTRY])
        return float(f[:, lay.A_WALLET].sum() + upnl.sum() + self.ex_f[lay.X_INSURANCE_FUND]
                     + self.ex_f[lay.X_FEES_COLLECTED])

    def invariants(self) -> dict[str, bool | float]:
        """Check the exchange's invariants; return each result (and the money drift)."""
        longs, shorts = open_interest_lots(self.acct_i, self.n_accounts)
        deposits = float(self.ex_f[lay.X_DEPOSITS])
        drift = self.total_money() - deposits
        book = self.book
        live = book.orders[:, 0] != -1
        return {
            "money_conserved": abs(drift) <= 1e-6 * max(deposits, 1.0),
            "money_drift_usd": drift,
            "long_oi_equals_short_oi": longs == shorts,
            "oi_tracking_matches_accounts": (longs == int(self.ex_i[lay.XI_LONG_OI])
                                             and shorts == int(self.ex_i[lay.XI_SHORT_OI])),
            "no_negative_resting_qty": bool((book.levels[:, :, 2] >= 0).all()
                                            and (book.orders[live, 2] > 0).all()),
            "book_not_crossed": not crossed(book.meta),
            "trigger_passes_exhausted": int(self.ex_i[lay.XI_PASSES_EXHAUSTED]),
        }


_NO_FILLS = np.zeros(0, dtype=FILL_DTYPE)
_RECENT_FILLS = 1000  # fills kept for recent_trades()
_NO_FILLS.flags.writeable = False
_STATUSES = {int(s): s for s in Status}


def _grown(array: np.ndarray, need: int) -> np.ndarray:
    out = np.zeros(max(2 * array.shape[0], need), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


__all__ = ["Exchange", "ExchangeConfig", "AccountView", "SettleReport", "NO_PRICE"]
