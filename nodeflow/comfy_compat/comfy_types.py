"""``comfy.comfy_types`` (with ``.node_typing``) and ``node_helpers``: the typing helpers and
small utilities that many V1 packs import only to name their types (``IO.IMAGE``) or to open
images; nothing in them touches ComfyUI's models, so nodeflow provides them whole."""
from __future__ import annotations

import hashlib
from abc import ABC
from enum import Enum
from typing import Any, Literal, TypedDict

from .missing import partial_module

IO_TYPES = (
    "STRING IMAGE MASK LATENT BOOLEAN INT FLOAT COMBO CONDITIONING SAMPLER SIGMAS GUIDER NOISE "
    "CLIP CONTROL_NET VAE MODEL CLIP_VISION CLIP_VISION_OUTPUT STYLE_MODEL GLIGEN "
    "UPSCALE_MODEL AUDIO VIDEO WEBCAM POINT FACE_ANALYSIS BBOX SEGS").split()
"""ComfyUI's named socket types (``IO.X`` is ``"X"``)."""


class _TypeName(str, Enum):
    """A str enum whose members print as their value, and whose ``!=`` knows that ``"*"``
    matches anything and ``"FLOAT,INT"`` matches each of its parts (as ComfyUI's does)."""

    def __str__(self) -> str:
        return self.value

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, str):
            return True
        if self.value == "*" or other == "*":
            return False
        mine, theirs = set(self.value.split(",")), set(other.split(","))
        return not (mine <= theirs or theirs <= mine)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)

    __hash__ = str.__hash__


IO = _TypeName("IO", {**{name: name for name in IO_TYPES}, "ANY": "*",
                      "NUMBER": "FLOAT,INT", "PRIMITIVE": "STRING,FLOAT,INT,BOOLEAN"})


class InputTypeOptions(TypedDict, total=False):
    default: Any
    defaultInput: bool
    forceInput: bool
    lazy: bool
    rawLink: bool
    tooltip: str
    min: float
    max: float
    step: float
    round: float
    label_on: str
    label_off: str
    multiline: bool
    placeholder: str
    dynamicPrompts: bool
    image_upload: bool
    image_folder: Literal["input", "output", "temp"]
    control_after_generate: bool


class HiddenInputTypeDict(TypedDict, total=False):
    node_id: Literal["UNIQUE_ID"]
    unique_id: Literal["UNIQUE_ID"]
    prompt: Literal["PROMPT"]
    extra_pnginfo: Literal["EXTRA_PNGINFO"]
    dynprompt: Literal["DYNPROMPT"]


class InputTypeDict(TypedDict, total=False):
    required: dict
    optional: dict
    hidden: HiddenInputTypeDict


class FileLocator(TypedDict, total=False):
    filename: str
    subfolder: str
    type: Literal["input", "output", "temp"]


class ComfyNodeABC(ABC):
    """The base class packs give their V1 nodes for type hints; it adds no behaviour."""

    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return {"required": {}}


class CheckLazyMixin:
    """A lazy node that wants every input it has not got yet."""

    def check_lazy_status(self, **kwargs: Any) -> list[str]:
        return [name for name, value in kwargs.items() if value is None]


def comfy_types_module(name: str = "comfy.comfy_types"):
    mod = partial_module(name, "ComfyUI's node typing helpers (IO, ComfyNodeABC, ...)")
    for value in (IO, InputTypeOptions, HiddenInputTypeDict, InputTypeDict, FileLocator,
                  ComfyNodeABC, CheckLazyMixin):
        setattr(mod, value.__name__, value)
    return mod


def conditioning_set_values(conditioning: list, values: dict | None = None) -> list:
    """A copy of ComfyUI-shaped ``[[cond, options], ...]`` with ``values`` set in each
    entry's options (the tensors are shared, the option dicts are new)."""
    return [[cond, {**options, **(values or {})}] for cond, options in conditioning]


def pillow(fn: Any, arg: Any) -> Any:
    """``fn(arg)``, retried once with truncated images allowed (files some cameras and web
    tools write that PIL refuses by default)."""
    from PIL import ImageFile, UnidentifiedImageError

    try:
        return fn(arg)
    except (OSError, UnidentifiedImageError, ValueError):
        before = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return fn(arg)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before


def hasher() -> Any:
    """The hash function for file fingerprints (ComfyUI's default, sha256)."""
    return hashlib.sha256


def node_helpers_module():
    mod = partial_module("node_helpers", "ComfyUI's node_helpers: conditioning_set_values, "
                                         "pillow, hasher")
    mod.conditioning_set_values, mod.pillow, mod.hasher = conditioning_set_values, pillow, hasher
    return mod
