"""Recording the calls of a kernel, for the tests that check which path a layer took."""
from __future__ import annotations

from collections.abc import Callable


def count_calls(monkeypatch, owner, name: str, record: Callable[[tuple], object] = lambda args: args[0].shape) -> list:
    """Wrap ``owner.name`` (for the test's duration) so that each call appends ``record(args)``
    (by default the first argument's shape) to the returned list, then runs the real one."""
    calls = []
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(record(args))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls
