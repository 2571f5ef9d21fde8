"""Recording the calls of a kernel, for the tests that check which path a layer took."""
from __future__ import annotations

from collections.abc import Callable


def count_calls(monkeypatch, owner, name: str, record: Callable[[tuple], object] = lambda args: args[0].shape,
                into: list | None = None) -> list:
    """Wrap ``owner.name`` (for the test's duration) so that each call appends ``record(args)``
    (by default the first argument's shape) to the returned list (``into``, to record several
    kernels in one list), then runs the real one."""
    calls = [] if into is None else into
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(record(args))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls
