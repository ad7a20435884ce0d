"""The stage roster: when each kind of agent acts within a step, in this order.

The model sorts agents by stage (then by creation). It knows only ``SPOT``: those agents act
on the spot venues before the index is read (each venue's makers and crowds, then the
cross-venue arbitrageurs, created after them). The perpetual's stages follow, so makers quote
before anyone takes, arbitrageurs tie the perpetual to the new index before the whale reads
the book, and the crowd acts last on the prices everyone else has set.
"""

from __future__ import annotations

from sim.model import SPOT_STAGE

SPOT = SPOT_STAGE
MAKER = 1
ARBITRAGE = 2
WHALE = 3
VALUE = 4
NOISE = 5
RETAIL = 6
