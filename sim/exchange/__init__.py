"""The exchange engine: a perpetual-futures venue for one contract (also used as a spot book).

``Exchange`` (``facade``) is the front door and the only object agents touch: orders go in
through ``submit`` / ``cancel``, and agents read their account, their orders and the book
through its O(1) accessors, never the arrays. Agents import from this module only: the
facade, the codes below and the contract maths they reason with (``liquidation_price``).
The rooms behind it:

- ``layouts``: every array layout (record dtypes, column indices), in one module;
- ``codes``: sides, order kinds, trigger sources, status codes;
- ``book``: the order book kernels (matching, stops, depth queries);
- ``accounts``: margin accounts and fill settlement;
- ``perp``: contract maths (tiers, liquidation and bankruptcy prices, mark price, funding rate);
- ``liquidation``: the liquidation engine (trigger heaps, insurance fund, ADL);
- ``funding``: premium sampling and funding settlement;
- ``engine``: the entry kernels that tie the above together (submit, cancel, settle);
- ``heap``, ``borrow``: kernel utilities; ``warmup``: compiles every kernel once.
"""

from sim.exchange.codes import (
    BUY,
    FLAG_ADL,
    FLAG_LIQUIDATION,
    FLAG_STOP,
    IOC,
    LIMIT,
    MARKET,
    POST_ONLY,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    OrderKind,
    Side,
    Status,
    Trigger,
)
from sim.exchange.facade import AccountView, Exchange, ExchangeConfig, SettleReport
from sim.exchange.perp import liquidation_price

__all__ = ["Exchange", "ExchangeConfig", "AccountView", "SettleReport", "BUY", "SELL", "LIMIT",
           "MARKET", "IOC", "POST_ONLY", "STOP_MARKET", "TRIGGER_LAST", "TRIGGER_MARK",
           "FLAG_LIQUIDATION", "FLAG_ADL", "FLAG_STOP", "Side", "OrderKind", "Trigger", "Status",
           "liquidation_price"]
