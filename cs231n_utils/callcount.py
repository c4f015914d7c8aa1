"""Count the calls into given functions while a block runs, however they are reached.

The grader (and the self-check) use it to see *how* a function computed its result: a backward()
that calls forward() / softmax_loss() / loss_and_grads(), or a chain_rule_factors() that calls a
numeric-differentiation helper of :mod:`cs231n_utils.gradient_check`, earns nothing. The calls are
counted by a profile hook on the functions' *code*, not by replacing names: an alias, a default
argument bound at definition time, a closure, an import inside the function or a copy of the
function object runs the same code and is counted too.

    >>> calls = [0]
    >>> with calls_counted([forward], calls):
    ...     grads = backward(P, y, cache, params, reg)
    >>> calls[0]          # forward() ran this many times during the block

A block whose code removed or replaced the hook (``sys.setprofile``) counts as one call more: the
count could not be trusted.
"""

from __future__ import annotations

import contextlib
import sys


def _code(function):
    """The code object a function (or anything wrapping one: a bound method, functools.wraps)
    runs, or None."""
    function = getattr(function, "__wrapped__", function)
    function = getattr(function, "__func__", function)
    return getattr(function, "__code__", None)


@contextlib.contextmanager
def calls_counted(functions, calls: list):
    """While the block runs (in this thread), every call of one of ``functions`` adds 1 to
    ``calls[0]``."""
    codes = {code for code in map(_code, functions) if code is not None}

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            calls[0] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        if sys.getprofile() is not profile:
            calls[0] += 1  # the block's code touched the hook: its count is not to be trusted
        sys.setprofile(previous)
