"""The words of nodeflow-tiny's prompts: digit names and the named colours of its palette.

Kept free of NumPy and torch so that node packs can offer them as choices at import time.
"""
from __future__ import annotations

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Named colours (RGB 0..255), far enough apart that the judge can tell them by their mean.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (250, 140, 0),
    "yellow": (245, 225, 40),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "purple": (140, 40, 190),
    "white": (250, 250, 250),
    "black": (10, 10, 10),
}
COLORS = tuple(PALETTE)
