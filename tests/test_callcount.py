"""cs231n_utils.callcount: calls counted by the functions' code, however they are reached; the one
mechanism behind backward's helper calls and the chain-rule part's numeric-helper calls."""

from __future__ import annotations

import functools
import sys

import numpy as np

from cs231n_grader import runner
from cs231n_utils import chain
from cs231n_utils.callcount import calls_counted
from cs231n_utils.nbcells import CodeCell, exec_cells


def helper(v):
    return v + 1


def test_direct_alias_default_argument_partial_and_copy_are_all_counted():
    alias = helper
    copy = type(helper)(helper.__code__, globals(), "copy")

    def caller(f=helper):  # bound at definition time: replacing the name would not reach it
        return f(1) + alias(1) + functools.partial(helper, 1)() + copy(1) + helper(1)

    calls = [0]
    with calls_counted([helper], calls):
        assert caller() == 10
    assert calls[0] == 5
    assert sys.getprofile() is None


def test_a_block_that_removes_the_hook_counts_as_a_call():
    calls = [0]
    with calls_counted([helper], calls):
        sys.setprofile(None)
        helper(1)
    assert calls[0] == 1 and sys.getprofile() is None


def test_a_block_that_saves_and_restores_the_hook_counts_as_a_call_however_it_does_it():
    import ctypes

    set_profile = ctypes.pythonapi.PyEval_SetProfile
    set_profile.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

    def save_restore():
        saved = sys.getprofile()
        sys.setprofile(None)
        helper(1)
        sys.setprofile(saved)

    def through_map():
        saved = sys.getprofile()
        list(map(sys.setprofile, [None]))
        helper(1)
        list(map(sys.setprofile, [saved]))

    def through_ctypes():
        saved = sys.getprofile()
        set_profile(None, None)
        helper(1)
        functools.partial(sys.setprofile, saved)()

    for evade in (save_restore, through_map, through_ctypes):
        calls = [0]
        with calls_counted([helper], calls):
            evade()
        assert calls[0] == 1, evade.__name__
        assert sys.getprofile() is None
    calls, inner = [0], [0]
    with calls_counted([helper], calls):  # nested blocks are not tampering
        with calls_counted([helper], inner):
            pass
    assert calls == [0] and inner == [0]


def test_numeric_helpers_are_counted_even_when_imported_inside_the_function():
    def factors(x, y, params):
        from cs231n_utils.gradient_check import eval_numerical_jacobian as J

        return {"dx2_ds1": J(lambda v: np.maximum(0, v), np.array([1.0, -2.0]))}

    out = chain.call(factors, np.zeros(2), np.array(0), {})
    assert chain.used_numeric_helpers(out) and float(out[chain.NUMERIC_CALLS]) == 1
    assert not chain.used_numeric_helpers({chain.NUMERIC_CALLS: np.array(0.0)})
    assert chain.used_numeric_helpers({})  # no record: not to be trusted


def test_backward_calling_forward_through_a_default_argument_is_counted():
    """The runner's backward check counts forward() however backward reaches it."""
    source = (
        "def forward(X, params):\n    return X @ params['W1'], None\n\n"
        "def backward(P, y, cache, params, reg, f=forward):\n"
        "    f(cache[0], params)\n"
        "    return {k: np.zeros_like(v) for k, v in params.items()}\n"
    )
    namespace = exec_cells([CodeCell("backward", source)], {"np": np})
    rng = np.random.default_rng(0)
    arrays = {
        "P": rng.random((2, 3)),
        "y": np.array([0, 1]),
        "X": rng.random((2, 4)),
        "S1": rng.random((2, 5)),
        "X2": rng.random((2, 5)),
        "W1": rng.random((4, 5)),
        "b1": np.zeros(5),
        "W2": rng.random((5, 3)),
        "b2": np.zeros(3),
    }
    out = runner.call_part("backward", namespace["backward"], arrays, {"reg": 0.0})
    assert float(out[runner.HELPER_CALLS]) == 1
