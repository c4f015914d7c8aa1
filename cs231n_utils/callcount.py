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

A block whose code set, removed or replaced a profile hook counts as one call more: the count
could not be trusted. An audit hook (PEP 578, installed once per process: audit hooks cannot be
removed) sees every ``sys.setprofile`` however it is reached -- an alias, ``map()``, ``ctypes``'
``PyEval_SetProfile`` -- so a hook saved and restored within the block is caught too.
"""

from __future__ import annotations

import contextlib
import functools
import sys

_ACTIVE: list[list] = []
"""One ``[tampered]`` flag per block running now (in any thread)."""


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

    _install_audit_hook()
    previous, tampered = sys.getprofile(), [False]
    sys.setprofile(profile)
    _ACTIVE.append(tampered)
    try:
        yield
    finally:
        _ACTIVE.remove(tampered)
        if tampered[0] or sys.getprofile() is not profile:
            calls[0] += 1  # the block's code touched the hook: its count is not to be trusted
        sys.setprofile(previous)


_OWN = calls_counted.__wrapped__.__code__  # its own sys.setprofile calls are not tampering


@functools.cache
def _install_audit_hook() -> None:
    sys.addaudithook(_audit)  # once per process: audit hooks stay until it exits


def _audit(event: str, args) -> None:
    """Audit hook: ``sys.setprofile`` reached by anyone but :func:`calls_counted` while blocks
    run marks each of them tampered."""
    if event == "sys.setprofile" and _ACTIVE and sys._getframe(1).f_code is not _OWN:
        for tampered in _ACTIVE:
            tampered[0] = True
