"""``borrow``: a view with the array's data, shape and strides, and no refcounting."""

import os
import subprocess
import sys

import numpy as np
from numba import njit

from sim.exchange.borrow import borrow


@njit(cache=True)
def _write_through_borrowed(array, row, col, value):
    view = borrow(array)
    view[row, col] = value
    return view.shape[0], view.shape[1], view[row, col]


@njit(cache=True)
def _sum_borrowed_column(array, col):
    view = borrow(array)
    total = 0.0
    for i in range(view.shape[0]):
        total += view[i, col]
    return total


def test_a_write_through_a_borrowed_view_lands_in_the_array():
    array = np.zeros((3, 4), dtype=np.int64)
    rows, cols, read_back = _write_through_borrowed(array, 2, 1, 7)
    assert (rows, cols, read_back) == (3, 4, 7)
    expected = np.zeros((3, 4), dtype=np.int64)
    expected[2, 1] = 7
    assert np.array_equal(array, expected)


def test_a_borrowed_view_of_a_strided_array_keeps_its_strides():
    # Every other row of [[0, 1], [2, 3], [4, 5]] is a non-contiguous view.
    base = np.arange(6, dtype=np.float64).reshape(3, 2)
    strided = base[::2]  # rows 0 and 2: [[0, 1], [4, 5]]
    assert _sum_borrowed_column(strided, 1) == 1.0 + 5.0


def test_borrow_is_the_identity_without_the_jit():
    code = ("import numpy as np; from sim.exchange.borrow import borrow; a = np.zeros(3); "
            "print(borrow(a) is a)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True"
