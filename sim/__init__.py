"""The world of a run, in two rooms. ``sim`` imports nothing else of liqsim.

The exchange engine, ``sim.exchange`` (its ``Exchange`` facade is the front door, and the only
thing agents touch):

- ``exchange.facade``: ``Exchange`` and ``ExchangeConfig``: orders in, O(1) reads out;
- ``exchange.layouts``: every array layout (record dtypes and column indices), in one module;
- ``exchange.book``: the order book kernels; ``exchange.accounts``: margin accounts;
  ``exchange.perp``: contract maths (tiers, liquidation price, mark price, funding rate);
  ``exchange.liquidation``: the liquidation engine, insurance fund and ADL;
  ``exchange.funding``: premium sampling and funding settlement; ``exchange.engine``: the entry
  kernels that tie them together; ``exchange.codes``: sides, order kinds, status codes;
  ``exchange.heap``, ``exchange.borrow``, ``exchange.warmup``: kernel utilities.

The market around it:

- ``model``: the mesa ``MarketModel``: the clock, the stage loop, scheduled events, and one
  random stream per component (``random_stream``);
- ``fundamental``: the news process (GBM with jumps and stochastic volatility);
- ``recorder``: what a run records, step by step; ``result``: ``RunResult`` (the tables and the
  run directory) and ``HuntRecord`` (a whale's hunt, the ``hunts`` table);
- ``heatmap``: the true liquidation heatmap; ``public_data``: candles and open interest as a
  venue publishes them; ``heatmap_estimate``: the public heatmap estimate built from them.
"""
