"""``Field``: an input's default value and its constraints, as node authors write them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence


class _Required:
    """Marks an input that has no default."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

Choices = Sequence[Any] | Callable[..., Sequence[Any]]


@dataclass(frozen=True)
class FieldSpec:
    default: Any = REQUIRED
    ge: float | None = None
    le: float | None = None
    step: float | None = None
    multiple_of: int | None = None
    choices: Choices | None = None
    multiline: bool = False
    max_length: int | None = None
    tooltip: str = ""
    display_name: str | None = None
    control_after_generate: bool = False
    upload: str | None = None
    widget: str | None = None
    lazy: bool = False
    min_items: int | None = None
    max_items: int | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not REQUIRED

    def choice_list(self, settings: Any = None) -> list[Any] | None:
        """The allowed values; a callable is asked now (model folders change at run time)."""
        if self.choices is None:
            return None
        if callable(self.choices):
            return list(self.choices(settings))
        return list(self.choices)


SOCKET_WIDGET = "socket"
"""``Field(widget=SOCKET_WIDGET)``: the editor draws the input as a socket only, no widget (a
value still comes from a link, or from the file). ComfyUI's ``forceInput``."""


def Field(default: Any = REQUIRED, *, ge: float | None = None, le: float | None = None,
          step: float | None = None, multiple_of: int | None = None,
          choices: Choices | None = None, multiline: bool = False, max_length: int | None = None,
          tooltip: str = "", display_name: str | None = None,
          control_after_generate: bool = False, upload: str | None = None,
          widget: str | None = None, lazy: bool = False, min_items: int | None = None,
          max_items: int | None = None) -> Any:
    """Declare an input's default and constraints.

    ``choices`` is a list, or a callable taking the run's :class:`~nodeflow.settings.Settings`
    (for lists that depend on the user's folders, such as checkpoint names).
    ``multiple_of`` rejects other values (an image width of 1001 is an error, never rounded).
    ``control_after_generate`` asks the editor for the seed widget's randomize/increment menu.
    ``upload="image"`` makes a file-name input an image picker with upload and preview.
    ``widget`` names an editor widget that a pack's editor extension registers
    (``"socket"``: no widget, the input is a socket only).
    ``lazy=True`` makes a linked input lazy: what feeds it runs only if the node's
    ``check_lazy`` asks for it (see ``@node``); an input it never asks for arrives as None.
    ``min_items`` and ``max_items`` bound a growing input family (``**image:
    Annotated[Image, Field(min_items=2, max_items=8)]``): how many of image_1, image_2, ...
    must be connected, and how many the editor offers.
    """
    return FieldSpec(default=default, ge=ge, le=le, step=step, multiple_of=multiple_of,
                     choices=choices,
                     multiline=multiline, max_length=max_length, tooltip=tooltip,
                     display_name=display_name, control_after_generate=control_after_generate,
                     upload=upload, widget=widget, lazy=lazy, min_items=min_items,
                     max_items=max_items)
