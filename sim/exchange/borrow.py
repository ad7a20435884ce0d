"""``borrow``: a view of an array that numba does not reference-count.

Numba counts references to every array a kernel handles: each array variable of an inlined
helper and each array argument of a call costs an atomic increment and decrement of the
array's memory-info block. On the order path that is about 40 atomic operations per message,
and they, not the matching, set its speed (measured: the benchmark's message stream runs
about 3.5 times faster inside kernels that borrow their arrays, 4.3 M against 15 M messages
per second back to back; ``liqsim bench`` measures it).

A borrowed view has the same data, shape and strides but no memory-info block, so numba's
reference counting of it does nothing. It is safe while the caller holds the array, which is
the case for the arguments of a kernel called from Python: the entry kernels borrow their
state arrays once and hand the views down. A borrowed view must not outlive the call: no
kernel returns one or stores one. Under ``NUMBA_DISABLE_JIT=1`` it is the array itself.
"""

from __future__ import annotations

from numba.core import cgutils, config
from numba.extending import intrinsic

if config.DISABLE_JIT:

    def borrow(array):
        """Return ``array`` (no reference counting happens without the JIT)."""
        return array

else:

    @intrinsic
    def borrow(typingctx, array):
        """Return a view of ``array`` without a memory-info block (not reference-counted)."""

        def codegen(context, builder, signature, args):
            source = context.make_array(array)(context, builder, args[0])
            view = context.make_array(array)(context, builder)
            for name in ("parent", "nitems", "itemsize", "data", "shape", "strides"):
                setattr(view, name, getattr(source, name))
            view.meminfo = cgutils.get_null_value(view.meminfo.type)
            return view._getvalue()

        return array(array), codegen
