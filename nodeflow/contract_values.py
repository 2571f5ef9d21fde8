"""Value checks for the contract kit (nodeflow.testing): copies of a node's inputs to compare
after the call (purity), comparisons of two runs' outputs (determinism), and the dtype and
range each built-in socket type promises (docs/custom-nodes.md, "Tensor conventions").

Duck-typed, so nothing here imports torch until a tensor is actually compared.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

_DEPTH = 6  # containers nested deeper than this are not compared


def is_tensor(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("detach", "clone", "shape", "dtype"))


def snapshot(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` deep enough to tell later whether it was changed: tensors cloned,
    lists, tuples, dicts and dataclasses copied; anything else (models) kept by identity."""
    if depth > _DEPTH:
        return value
    if is_tensor(value):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v, depth + 1) for v in value) if not hasattr(
            value, "_fields") else type(value)(*(snapshot(v, depth + 1) for v in value))
    if isinstance(value, dict):
        return {k: snapshot(v, depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _Fields(type(value), {f.name: snapshot(getattr(value, f.name), depth + 1)
                                     for f in dataclasses.fields(value)})
    return value


@dataclasses.dataclass
class _Fields:
    """A dataclass's fields as they were (the object itself may be mutated later)."""

    cls: type
    values: dict[str, Any]


def difference(before: Any, after: Any, where: str, depth: int = 0) -> str | None:
    """Where ``after`` differs from ``before`` (a snapshot or another run's value), e.g.
    ``"latent.samples"``, with what differs; None when they are equal."""
    if depth > _DEPTH:
        return None
    if isinstance(before, _Fields):
        if not isinstance(after, before.cls):
            return f"{where} became a {type(after).__name__}"
        for name, value in before.values.items():
            found = difference(value, getattr(after, name, None), f"{where}.{name}", depth + 1)
            if found:
                return found
        return None
    if is_tensor(before):
        return _tensor_difference(before, after, where)
    if isinstance(before, (list, tuple)):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return f"{where} changed length or kind"
        for i, (b, a) in enumerate(zip(before, after)):
            found = difference(b, a, f"{where}[{i}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(before, dict):
        if not isinstance(after, dict) or set(after) != set(before):
            return f"{where} changed its keys"
        for key, value in before.items():
            found = difference(value, after[key], f"{where}[{key!r}]", depth + 1)
            if found:
                return found
        return None
    if dataclasses.is_dataclass(before) and not isinstance(before, type):
        return difference(snapshot(before, depth), after, where, depth)
    if isinstance(before, float) and isinstance(after, float) and math.isnan(before):
        return None if math.isnan(after) else f"{where} differs"
    if isinstance(before, (int, float, str, bool, bytes, type(None))):
        return None if before == after else f"{where} differs ({before!r} / {after!r})"
    return None  # opaque objects (models): compared by what they hold, not here


def _tensor_difference(before: Any, after: Any, where: str) -> str | None:
    if not is_tensor(after):
        return f"{where} is no longer a tensor"
    if tuple(before.shape) != tuple(after.shape) or before.dtype != after.dtype:
        return (f"{where} changed from {tuple(before.shape)} {before.dtype} to "
                f"{tuple(after.shape)} {after.dtype}")
    import torch

    a, b = before.detach().cpu(), after.detach().cpu()
    same = torch.eq(a, b)
    if a.is_floating_point() or a.is_complex():
        same = same | (torch.isnan(a) & torch.isnan(b))
    if bool(same.all()):
        return None
    changed = int((~same).sum())
    return f"{where} differs in {changed} of {same.numel()} values"


def range_problem(socket_name: str, value: Any) -> str | None:
    """What breaks the built-in socket type's promise of dtype and range, or None."""
    check = _RANGES.get(socket_name)
    return check(value) if check is not None else None


def _unit_float(value: Any, what: str) -> str | None:
    """A floating tensor with every value in 0..1."""
    if not is_tensor(value):
        return None  # the socket's own check reports the shape
    if not value.is_floating_point():
        return (f"is a {value.dtype} tensor; {what} is float32 in 0..1 (divide by 255 and "
                f"convert: `x.float() / 255`)")
    if value.numel() == 0:
        return None
    import torch

    if not bool(torch.isfinite(value).all()):
        return "holds NaN or infinite values"
    low, high = float(value.min()), float(value.max())
    if low < -1e-4 or high > 1 + 1e-4:
        return (f"has values from {low:.3g} to {high:.3g}; {what} is 0..1 (clamp with "
                "`x.clamp(0, 1)`)")
    return None


def _finite_tensor(value: Any, what: str) -> str | None:
    if not is_tensor(value):
        return None
    if not value.is_floating_point():
        return f"{what} is a {value.dtype} tensor; it must be floating point"
    import torch

    if value.numel() and not bool(torch.isfinite(value).all()):
        return f"{what} holds NaN or infinite values"
    return None


def _latent(value: Any) -> str | None:
    problem = _finite_tensor(getattr(value, "samples", None), "samples")
    if problem:
        return problem
    mask = getattr(value, "noise_mask", None)
    if mask is not None:
        problem = _unit_float(mask, "a noise mask")
        return f"its noise_mask {problem}" if problem else None
    return None


def _conditioning(value: Any) -> str | None:
    for i, entry in enumerate(getattr(value, "entries", ()) or ()):
        for name in ("cond", "pooled"):
            problem = _finite_tensor(getattr(entry, name, None), f"entry {i}'s {name}")
            if problem:
                return problem
    return None


def _float(value: Any) -> str | None:
    """NaN poisons everything downstream; infinity can be a true answer (PSNR of equal
    images) and is allowed."""
    if isinstance(value, float) and math.isnan(value):
        return "is NaN; a FLOAT must be a number (check for a division by zero)"
    return None


def _present(kind: str):
    def check(value: Any) -> str | None:
        return None if value is not None else f"is None; a {kind} output must be a {kind}"
    return check


_RANGES = {
    "IMAGE": lambda v: _unit_float(v, "an IMAGE"),
    "MASK": lambda v: _unit_float(v, "a MASK"),
    "LATENT": _latent,
    "CONDITIONING": _conditioning,
    "FLOAT": _float,
    "MODEL": _present("MODEL"),
    "CLIP": _present("CLIP"),
    "VAE": _present("VAE"),
}
"""INT, STRING and BOOLEAN are fully checked by their socket type; ``*`` promises nothing."""
