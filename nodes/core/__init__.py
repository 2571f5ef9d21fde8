"""Core nodes: primitive values to share between inputs, and showing a value.

A built-in pack, loaded by the same loader as any third-party pack.
"""
from .primitives import PrimitiveBoolean, PrimitiveFloat, PrimitiveInt, PrimitiveString
from .show import ShowValue

__all__ = ["PrimitiveBoolean", "PrimitiveFloat", "PrimitiveInt", "PrimitiveString", "ShowValue"]
