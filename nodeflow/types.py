"""Socket types: the typed values that travel along links.

A socket type is a Python class with a wire name (``LATENT``), a colour for the editor and the
names of other types it accepts (FLOAT accepts INT). Nodes use the classes as annotations;
the values that travel are whatever the producing node returns (tensors, dataclasses, ...).
The four primitives (INT, FLOAT, STRING, BOOLEAN) can also be typed in as literal values.
"""
from __future__ import annotations

from typing import Any, ClassVar


class SocketType:
    """Base of every socket type. Subclass it (or call :func:`socket_type`) to add one."""

    type_name: ClassVar[str] = "*"
    color: ClassVar[str] = "#a0a0a0"
    accepts: ClassVar[tuple[str, ...]] = ()
    python_type: ClassVar[type | tuple[type, ...] | None] = None
    """When set, values of this type may be literals and are checked against it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" not in cls.__dict__:
            cls.type_name = cls.__name__.upper()

    @classmethod
    def is_literal(cls) -> bool:
        return cls.python_type is not None

    @classmethod
    def check(cls, value: Any) -> str | None:
        """Why ``value`` cannot travel as this type (a node returned the wrong thing), or None.
        Duck-typed, so checking never imports torch."""
        expected = cls.python_type
        if expected is None:
            return None
        if expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, expected)
        return None if ok else f"got {type(value).__name__}"


def _tensor_problem(value: Any, ndim: int, layout: str, last: tuple[int, ...] = ()) -> str | None:
    shape = getattr(value, "shape", None)
    if shape is None or getattr(value, "ndim", None) is None:
        return f"got {type(value).__name__}, not a tensor {layout}"
    if value.ndim != ndim or (last and shape[-1] not in last):
        return f"got a tensor of shape {tuple(shape)}, expected {layout}"
    return None


def socket_type(type_name: str, color: str = "#a0a0a0", accepts: tuple[str, ...] = (),
                doc: str = "") -> type[SocketType]:
    """Make a new socket type, e.g. ``Mesh = socket_type("MESH", "#8bc34a")``."""
    cls = type(type_name.title().replace("_", ""), (SocketType,),
               {"type_name": type_name, "color": color, "accepts": tuple(accepts), "__doc__": doc})
    return cls


class AnyType(SocketType):
    """Accepts and produces anything (reroutes, debugging nodes)."""

    type_name = "*"


class Int(SocketType):
    type_name = "INT"
    color = "#7fb3d5"
    python_type = int


class Float(SocketType):
    type_name = "FLOAT"
    color = "#a9cce3"
    accepts = ("INT",)
    python_type = float


class String(SocketType):
    type_name = "STRING"
    color = "#82e0aa"
    python_type = str


class Boolean(SocketType):
    type_name = "BOOLEAN"
    color = "#f7dc6f"
    python_type = bool


class Model(SocketType):
    """The denoising model (UNet) with its noise schedule."""
    type_name = "MODEL"
    color = "#b39ddb"


class Clip(SocketType):
    """Text encoder(s) with their tokenizer."""
    type_name = "CLIP"
    color = "#ffd500"


class Vae(SocketType):
    """The autoencoder between images and latents."""
    type_name = "VAE"
    color = "#ff6e6e"


class Conditioning(SocketType):
    """Text conditioning: entries of token embeddings (and pooled embeddings for SDXL)."""
    type_name = "CONDITIONING"
    color = "#ffa931"

    @classmethod
    def check(cls, value: Any) -> str | None:
        return None if hasattr(value, "entries") else f"got {type(value).__name__}"


class Latent(SocketType):
    """Raw VAE latents [batch, channels, height/8, width/8] with an optional noise mask."""
    type_name = "LATENT"
    color = "#ff9cf9"

    @classmethod
    def check(cls, value: Any) -> str | None:
        if not hasattr(value, "samples"):
            return f"got {type(value).__name__}, not a LatentBatch"
        return _tensor_problem(value.samples, 4, "[batch, channels, height, width]")


class Image(SocketType):
    """A batch of images: float tensor [batch, height, width, 3] in 0..1."""
    type_name = "IMAGE"
    color = "#64b5f6"

    @classmethod
    def check(cls, value: Any) -> str | None:
        return _tensor_problem(value, 4, "[batch, height, width, 3]", (1, 3, 4))


class Mask(SocketType):
    """A batch of masks: float tensor [batch, height, width] in 0..1, 1 = change this pixel."""
    type_name = "MASK"
    color = "#81c784"

    @classmethod
    def check(cls, value: Any) -> str | None:
        return _tensor_problem(value, 3, "[batch, height, width]")


BUILTIN_TYPES: tuple[type[SocketType], ...] = (
    AnyType, Int, Float, String, Boolean, Model, Clip, Vae, Conditioning, Latent, Image, Mask)

PRIMITIVES: dict[type, type[SocketType]] = {int: Int, float: Float, str: String, bool: Boolean}


def as_socket_type(annotation: Any) -> type[SocketType] | None:
    """The socket type for an annotation: a SocketType subclass or a primitive Python type."""
    if isinstance(annotation, type):
        if issubclass(annotation, SocketType):
            return annotation
        return PRIMITIVES.get(annotation)
    return None


def can_connect(output_type: str, input_type: type[SocketType]) -> bool:
    """Whether an output of wire type ``output_type`` may feed ``input_type``."""
    if input_type.type_name == "*" or output_type == "*":
        return True
    return output_type == input_type.type_name or output_type in input_type.accepts


def socket_by_name(type_name: str) -> type[SocketType]:
    """The built-in socket type with this wire name, else a new one (for subgraph inputs)."""
    for known in BUILTIN_TYPES:
        if known.type_name == type_name:
            return known
    return socket_type(type_name)
