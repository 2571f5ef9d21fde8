"""The training data of nodeflow-tiny: scikit-learn's handwritten digits, coloured, with prompts.

`load_digits` ships inside the scikit-learn wheel (1,797 images of 8x8, values 0..16, CC BY 4.0;
UCI "Optical Recognition of Handwritten Digits"), so the model can be trained offline. Each
digit becomes a stroke mask upsampled to 32x32 and is painted in one colour of a small named
palette over a background of another, so that a prompt carries three concepts (digit, ink,
background) and colour words can be checked by pixel statistics.

NumPy only (no torch): the DigitImage node and the quality judge use it too.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .palette import COLORS, PALETTE, WORDS

SIZE = 32
SOURCE_SIZE = 8
SOURCE_MAX = 16.0  # load_digits values run 0..16
__all__ = [
    "COLORS",
    "PALETTE",
    "SIZE",
    "WORDS",
    "all_prompts",
    "caption_parts",
    "color_pairs",
    "example_index",
    "masks",
    "paint",
    "prompt",
    "source_digits",
    "training_prompt",
]


def _bilinear_matrix(src: int, dst: int) -> np.ndarray:
    """[dst, src] weights of bilinear resizing with half-pixel centres and clamped edges
    (torch's align_corners=False): `M @ a @ M.T` resizes a square image."""
    centres = (np.arange(dst) + 0.5) * src / dst - 0.5
    centres = np.clip(centres, 0, src - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, src - 1)
    frac = centres - low
    matrix = np.zeros((dst, src))
    matrix[np.arange(dst), low] += 1 - frac
    matrix[np.arange(dst), high] += frac
    return matrix


UPSAMPLE = _bilinear_matrix(SOURCE_SIZE, SIZE)
# 4x4 average pooling, the judge's way back from 32x32 to the 8x8 grid of the source data.
POOL = np.kron(np.eye(SOURCE_SIZE), np.full((1, SIZE // SOURCE_SIZE), SOURCE_SIZE / SIZE))


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images.astype(np.float64)
    images.setflags(write=False)
    target = data.target.astype(np.int64)
    target.setflags(write=False)
    return images, target


def source_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images [1797, 8, 8] in 0..16, labels [1797]): the original data, read-only."""
    return _digits()


def masks() -> np.ndarray:
    """Stroke masks [1797, 32, 32] in 0..1: each digit upsampled bilinearly."""
    images, _ = _digits()
    return np.clip(UPSAMPLE @ (images / SOURCE_MAX) @ UPSAMPLE.T, 0.0, 1.0)


def paint(mask: np.ndarray, color: str, background: str) -> np.ndarray:
    """RGB images [..., 32, 32, 3] in 0..1: `color` ink where the mask is 1, `background` where 0."""
    ink = np.asarray(PALETTE[color], dtype=np.float64) / 255.0
    paper = np.asarray(PALETTE[background], dtype=np.float64) / 255.0
    return paper + mask[..., None] * (ink - paper)


def example_index(digit: int, index: int) -> int:
    """Position in the dataset of the `index`-th example of `digit` (wrapping around)."""
    _, target = _digits()
    positions = np.flatnonzero(target == digit)
    return int(positions[index % len(positions)])


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def prompt(digit: int, color: str | None = None, background: str | None = None) -> str:
    """The prompt for a digit, naming its ink and background colours when they are given:
    "a red handwritten digit seven on a blue background", "a handwritten digit seven"."""
    subject = f"handwritten digit {WORDS[digit]}"
    text = f"{_article(color)} {color} {subject}" if color else f"a {subject}"
    return f"{text} on {_article(background)} {background} background" if background else text


def training_prompt(digit: int, color: str, background: str, draw: float) -> str:
    """What a training image is captioned with, chosen by `draw` (uniform in 0..1): empty
    (10%, so classifier-free guidance has an unconditional model), digit only, one colour,
    or both colours (half of all captions)."""
    if draw < 0.10:
        return ""
    if draw < 0.25:
        return prompt(digit)
    if draw < 0.375:
        return prompt(digit, color=color)
    if draw < 0.5:
        return prompt(digit, background=background)
    return prompt(digit, color, background)


def caption_parts() -> list[tuple[str, int | None, int | None, int | None]]:
    """Every caption training can produce with what it names, (text, digit, ink, background)
    (palette indices; None where the caption does not say), the empty one first (a fixed
    order for ids)."""
    parts: list[tuple[str, int | None, int | None, int | None]] = [("", None, None, None)]
    for digit in range(10):
        parts.append((prompt(digit), digit, None, None))
        parts += [(prompt(digit, color=c), digit, i, None) for i, c in enumerate(COLORS)]
        parts += [(prompt(digit, background=b), digit, None, j) for j, b in enumerate(COLORS)]
        parts += [(prompt(digit, c, b), digit, i, j) for i, c in enumerate(COLORS)
                  for j, b in enumerate(COLORS) if i != j]
    return parts


def all_prompts() -> list[str]:
    """Every caption training can produce, the empty one first (a fixed order for ids)."""
    return [text for text, *_ in caption_parts()]


def color_pairs(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` random (ink, background) palette indices with ink != background."""
    ink = rng.integers(0, len(COLORS), count)
    paper = (ink + rng.integers(1, len(COLORS), count)) % len(COLORS)
    return ink, paper
