"""Prompt weighting syntax: split a prompt into (text, weight) segments. No torch needed.

The syntax users bring from ComfyUI and AUTOMATIC1111:

    (word)        weight x 1.1; nesting multiplies: ((word)) = 1.21
    (word:1.3)    weight 1.3
    [word]        weight / 1.1 (A1111's de-emphasis; ComfyUI has none, see below)
    \\( \\) \\[ \\]   literal brackets; any other backslash is literal too
    BREAK         (upper case, a whole word) ends the current 75-token chunk; only
                  parse_prompt_sections() gives it meaning

Choices where the two programs differ, and why:

- An explicit weight sets the group's weight; it is not multiplied by enclosing groups.
  `((word:1.5))` is 1.5 as in ComfyUI (comfy/sd1_clip.py, `token_weights`, whose docstring
  lists these cases), where A1111 gives 1.65. An explicit weight does scale the groups nested
  inside it: `((word):1.5)` is 1.65 in both. ComfyUI users import workflows, and the same
  workflow should give the same picture.
- `[word]` divides by 1.1 as in A1111 (modules/prompt_parser.py, `parse_prompt_attention`).
  ComfyUI sends the brackets to CLIP as text, so `square_brackets=False` reproduces it.
  `[a:b:0.5]` (A1111's prompt editing) is not supported: it is de-emphasised text.
- A bracket without a partner is text: `a (b` is one segment "a (b" at weight 1. ComfyUI
  turns some of these into groups and A1111 weights an unclosed "(" to the end of the
  prompt; neither is what someone who typed a stray bracket meant.
- The weight must be a plain decimal number (`1`, `-0.5`, `.8`); ComfyUI's `float()` would
  also take "nan", "inf" and "1e3". Anything else after the colon stays text:
  `(a:b)` is "a:b" at 1.1. A colon that starts the group is text too (`(:1.2)`), as in
  ComfyUI.

Segments are never merged across a group boundary: as in ComfyUI, `x(y)z` tokenizes as
three words, not one.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

__all__ = ["Segment", "parse_prompt_weights", "parse_prompt_sections", "escape_prompt"]

EMPHASIS = 1.1
DEEMPHASIS = 1 / 1.1  # A1111 multiplies by the reciprocal, so we do too (same rounding)
ESCAPABLE = "()[]"
_WEIGHT = re.compile(r":\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*\Z", re.ASCII)
# A1111's re_break: the word BREAK with the whitespace around it.
_BREAK = re.compile(r"\s*\bBREAK\b\s*")


class Segment(NamedTuple):
    """A run of prompt text and the weight its tokens get."""

    text: str
    weight: float


class _Group:
    """A matched bracket pair: its kind ("(" or "[") and its children (str or _Group)."""

    __slots__ = ("kind", "children")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.children: list[str | _Group] = []


def escape_prompt(text: str) -> str:
    """Backslash every bracket so that `text` parses as itself at weight 1."""
    return "".join("\\" + c if c in ESCAPABLE else c for c in text)


def parse_prompt_weights(text: str, *, square_brackets: bool = True) -> list[Segment]:
    """Split `text` into weighted segments; BREAK is ordinary text here. Never raises."""
    return [s for s in _parse(text, square_brackets, breaks=False) if s is not None]


def parse_prompt_sections(text: str, *, square_brackets: bool = True) -> list[list[Segment]]:
    """Like parse_prompt_weights, split at each BREAK into sections (A1111's chunk breaks).

    Empty sections are dropped, so `BREAK a` and `a BREAK` are just `a`; an empty prompt
    gives no sections.
    """
    sections: list[list[Segment]] = [[]]
    for item in _parse(text, square_brackets, breaks=True):
        if item is None:
            sections.append([])
        else:
            sections[-1].append(item)
    return [s for s in sections if s]


def _parse(text: str, square_brackets: bool, breaks: bool) -> list[Segment | None]:
    """Weighted text in prompt order, None where a BREAK stood (only when `breaks`)."""
    root = _build_tree(_lex(text, "()[]" if square_brackets else "()"))
    out: list[Segment | None] = []
    # An explicit stack, not recursion: a prompt of 5000 "(" must not raise RecursionError.
    todo: list[tuple[str | _Group, float]] = [(root, 1.0)]
    while todo:
        item, weight = todo.pop()
        if isinstance(item, str):
            _emit_text(item, weight, breaks, out)
        else:
            weight, children = _group_weight(item, weight)
            todo.extend((child, weight) for child in reversed(children))
    return out


def _lex(text: str, brackets: str) -> list[str | tuple[str, int]]:
    """Characters become text; each bracket becomes (char, position), escapes become text."""
    tokens: list[str | tuple[str, int]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in ESCAPABLE:
            tokens.append(text[i + 1])
            i += 2
            continue
        tokens.append((c, i) if c in brackets else c)
        i += 1
    return tokens


def _build_tree(tokens: list[str | tuple[str, int]]) -> _Group:
    """Pair brackets with a stack; a closer that does not match the innermost opener is text."""
    partner = {")": "(", "]": "["}
    open_stack: list[int] = []
    pairs: dict[int, int] = {}
    for k, tok in enumerate(tokens):
        if isinstance(tok, str):
            continue
        char = tok[0]
        if char in "([":
            open_stack.append(k)
        elif open_stack and tokens[open_stack[-1]][0] == partner[char]:  # type: ignore[index]
            pairs[open_stack.pop()] = k
    closers = set(pairs.values())

    root = _Group("")
    stack = [root]
    for k, tok in enumerate(tokens):
        if isinstance(tok, tuple) and k in pairs:
            group = _Group(tok[0])
            _append(stack[-1], group)
            stack.append(group)
        elif isinstance(tok, tuple) and k in closers:
            stack.pop()
        else:
            _append(stack[-1], tok if isinstance(tok, str) else tok[0])
    return root


def _append(group: _Group, item: str | _Group) -> None:
    """Add a child, joining neighbouring text so a group's text pieces stay whole."""
    if isinstance(item, str) and group.children and isinstance(group.children[-1], str):
        group.children[-1] += item
    else:
        group.children.append(item)


def _group_weight(group: _Group, weight: float) -> tuple[float, list[str | _Group]]:
    """The weight inside `group` given the weight outside it, and its children to emit."""
    if group.kind == "(":
        explicit = _explicit_weight(group.children)
        if explicit is not None:
            return explicit
        return weight * EMPHASIS, group.children
    if group.kind == "[":
        return weight * DEEMPHASIS, group.children
    return weight, group.children


def _explicit_weight(children: list[str | _Group]) -> tuple[float, list[str | _Group]] | None:
    """`...:1.3` at the end of a round group: (1.3, children without the suffix), else None."""
    if not children or not isinstance(children[-1], str):
        return None
    last = children[-1]
    colon = last.rfind(":")
    match = _WEIGHT.match(last, colon) if colon >= 0 else None
    if match is None or (colon == 0 and len(children) == 1):
        return None
    value = float(match.group(1))
    if not math.isfinite(value):  # 400 digits overflow to inf
        return None
    return value, [*children[:-1], last[:colon]]


def _emit_text(text: str, weight: float, breaks: bool, out: list[Segment | None]) -> None:
    pieces = _BREAK.split(text) if breaks else [text]
    for n, piece in enumerate(pieces):
        if n > 0:
            out.append(None)
        if piece:
            out.append(Segment(piece, weight))
