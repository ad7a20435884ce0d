"""Every array layout of the exchange engine, in one place: record dtypes and column indices.

The kernels index plain arrays with these module-level integers (numba reads them as
compile-time constants). Only ``sim.exchange`` and the map kernels of ``sim`` read arrays
through them; agents use the ``Exchange`` facade's accessors, so a column can move here
without touching an agent.
"""

from __future__ import annotations

import numpy as np

# The order book — ``sim.exchange.book``

FILL_DTYPE = np.dtype(
    [
        ("price", np.int64),
        ("qty", np.int64),
        ("maker_order", np.int64),
        ("maker_account", np.int64),
        ("taker_order", np.int64),
        ("taker_account", np.int64),
        ("taker_side", np.int64),
        ("flags", np.int64),
    ]
)

# orders columns
O_ID = 0
O_PRICE = 1  # limit price, or stop price for a stop
O_QTY = 2  # remaining lots
O_SIDE = 3
O_ACCOUNT = 4
O_NEXT = 5  # next in level FIFO (or in the free list)
O_PREV = 6
O_OWNER_NEXT = 7
O_OWNER_PREV = 8
O_IS_STOP = 9
O_TRIGGER = 10
O_REDUCE_ONLY = 11
N_ORDER_FIELDS = 12

# levels last axis
L_HEAD = 0
L_TAIL = 1
L_QTY = 2

# owner columns
W_HEAD = 0
W_BUY_LOTS = 1
W_BUY_VALUE = 2
W_SELL_LOTS = 3
W_SELL_VALUE = 4
N_OWNER_FIELDS = 5

# meta entries
M_BASE_TICK = 0
M_BEST_BID = 1
M_BEST_ASK = 2
M_N_BIDS = 3  # resting bid orders
M_N_ASKS = 4
M_FREE_HEAD = 5
M_NEXT_SEQ = 6
M_N_FILLS = 7
M_LAST_PRICE = 8
M_VOLUME = 9  # lots traded since the book opened
M_MESSAGES = 10  # order-entry and cancel requests accepted
M_STOP_SIZES = 11  # four heap sizes: 11..14
M_N_STOPS = 15
N_META = 16

NO_PRICE = -1
NIL = -1
SLOT_BITS = 32
SLOT_MASK = (1 << SLOT_BITS) - 1
MARKET_BUY_LIMIT = np.iinfo(np.int64).max // 4

# Accounts and the exchange-wide figures — ``sim.exchange.accounts``

# acct_f columns
A_WALLET = 0
A_ENTRY = 1  # average entry price, 0 when flat
A_LEVERAGE = 2
A_POS_MARGIN = 3
A_REALIZED = 4  # realized PnL of trades (fees and funding excluded)
A_FEES = 5
A_FUNDING = 6  # funding paid (negative when received)
A_LIQ_PRICE = 7  # NaN when flat or not liquidatable
A_DEPOSITS = 8
A_MAX_NOTIONAL = 9  # largest position notional the account's leverage allows (tier table)
N_ACCT_F = 10

# acct_i columns
I_POSITION = 0  # signed lots
I_MODE = 1
I_LIQ_VERSION = 2  # bumped whenever the liquidation price changes
I_DIRTY_NEXT = 3  # link in the list of accounts whose liquidation price must be refreshed
I_N_LIQUIDATIONS = 4
N_ACCT_I = 5

NOT_DIRTY = -2
END_OF_LIST = -1

# ex_f entries
X_TICK_SIZE = 0
X_LOT_SIZE = 1
X_MAKER_FEE = 2
X_TAKER_FEE = 3
X_CLEARANCE_FEE = 4
X_INSURANCE_FUND = 5
X_FEES_COLLECTED = 6
X_DEPOSITS = 7  # every deposit into wallets and the fund since the start
X_MARK = 8
X_INDEX = 9
X_FUNDING_FRAC = 10  # time to the next funding as a fraction of the interval
X_MA_BASIS = 11  # moving average of (mid - index) over the mark-price window
X_FUNDING_RATE = 12  # last settled rate
X_PREMIUM_WSUM = 13
X_PREMIUM_WEIGHT = 14
X_TIME = 15
X_IMPACT_NOTIONAL = 16
X_PREMIUM = 17  # latest premium index sample
X_PREMIUM_SAMPLES = 18
X_PASS_LAST_TICKS = 19  # prices frozen at the start of a trigger pass
X_PASS_MARK = 20
X_PASS_TRIGGER = 21  # the liquidation trigger price of the pass (mark or last, USD)
X_PRICE_BAND = 22  # limit and stop prices must lie within mark x (1 -+ band)
N_EX_F = 23

# ex_i entries
XI_N_ACCOUNTS = 0
XI_LONG_OI = 1  # lots
XI_SHORT_OI = 2
XI_DIRTY_HEAD = 3
XI_N_DIRTY = 4
XI_N_POSITIONS = 5  # accounts with a non-zero position
XI_LIQ_TRIGGER = 6  # TRIGGER_MARK or TRIGGER_LAST
XI_N_LIQ = 7  # liquidation records not yet drained
XI_PASSES = 8  # trigger passes in the latest settle
XI_MAX_PASSES = 9
XI_PASSES_EXHAUSTED = 10  # settles that stopped at the pass bound with triggers left
XI_N_LIQ_TOTAL = 11
XI_N_ADL_TOTAL = 12
XI_LIQ_HEAP_SIZES = 13  # two heap sizes: 13 (longs), 14 (shorts)
XI_STOPS_DROPPED = 15  # fired stops that could not execute (nothing to reduce, no margin)
XI_PASS_OPEN = 16  # 1 while a trigger pass is under way (a settle may resume after growth)
XI_PASS_EVENTS = 17
N_EX_I = 18

# tiers rows (see sim.exchange.perp.tier_arrays)
T_FLOOR = 0
T_MAX_LEVERAGE = 1
T_MMR = 2
T_CUM = 3

# Liquidation records and the liquidation index — ``sim.exchange.liquidation``

LIQUIDATION_DTYPE = np.dtype(
    [
        ("t", np.float64),
        ("account", np.int64),
        ("side", np.int64),  # side of the liquidated position: +1 long, -1 short
        ("qty", np.int64),  # lots
        ("entry_price", np.float64),
        ("liq_price", np.float64),
        ("bankruptcy_price", np.float64),
        ("mark", np.float64),  # mark price when it triggered
        ("trigger_price", np.float64),  # the price that crossed (mark or last, by configuration)
        ("fill_price", np.float64),  # average over book fills and ADL
        ("insurance_delta", np.float64),
        ("adl_qty", np.int64),
        ("adl", np.bool_),
        ("trigger_pass", np.int64),
    ]
)

VERSION_BITS = 32
VERSION_MASK = (1 << VERSION_BITS) - 1
LONGS = 0
SHORTS = 1

# Funding settlements — ``sim.exchange.facade``

FUNDING_DTYPE = np.dtype(
    [("t", np.float64), ("premium_avg", np.float64), ("rate", np.float64), ("mark", np.float64),
     ("paid_by_longs", np.float64)]
)

# The message stream of ``run_messages`` — ``sim.exchange.engine``

MSG_OP = 0
MSG_ACCOUNT = 1
MSG_SIDE = 2
MSG_QTY = 3
MSG_PRICE = 4  # limit price, or for a cancel the index of the message that placed the order
N_MSG_FIELDS = 5
OP_SUBMIT_LIMIT = 0
OP_SUBMIT_MARKET = 1
OP_CANCEL = 2
