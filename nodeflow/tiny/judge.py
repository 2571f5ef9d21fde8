"""An independent judge of nodeflow-tiny's pictures: which digit, which ink, which background.

The digit judge is an sklearn SVM trained on the ORIGINAL 8x8 digits, never on anything the
model produced, so it cannot share the model's mistakes. A 32x32 RGB picture is brought back
into its input space: the background is the median colour of the border, the ink the mean of
the pixels farthest from it; each pixel's position between the two is its stroke value, and
4x4 average pooling returns the 8x8 grid in the data's 0..16 range. Colour words are judged by
the nearest palette colour to those two estimates.

NumPy and scikit-learn only.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .data import COLORS, PALETTE, POOL, SOURCE_MAX, source_digits

INK_SHARE = 0.08  # the share of pixels farthest from the background that estimate the ink
BORDER = 2


@lru_cache(maxsize=1)
def digit_classifier():
    """An RBF SVM on all 1,797 original digits (the sklearn example's settings, ~99% held out)."""
    from sklearn.svm import SVC

    images, labels = source_digits()
    return SVC(gamma=0.001, C=10.0).fit(images.reshape(len(images), -1), labels)


def _as_batch(images) -> np.ndarray:
    """[N, 32, 32, 3] floats in 0..1 from uint8 or float arrays, one picture or a batch."""
    array = np.asarray(images)
    array = array / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)
    return array[None] if array.ndim == 3 else array


def ink_and_paper(images) -> tuple[np.ndarray, np.ndarray]:
    """Estimated (ink, background) RGB [N, 3] in 0..1 of each picture."""
    batch = _as_batch(images)
    frame = np.ones(batch.shape[1:3], dtype=bool)
    frame[BORDER:-BORDER, BORDER:-BORDER] = False
    paper = np.median(batch[:, frame], axis=1)
    pixels = batch.reshape(len(batch), -1, 3)
    distance = np.linalg.norm(pixels - paper[:, None], axis=-1)
    count = max(1, int(INK_SHARE * pixels.shape[1]))
    far = np.argsort(-distance, axis=1)[:, :count]
    ink = np.take_along_axis(pixels, far[..., None], axis=1).mean(axis=1)
    return ink, paper


def stroke_values(images) -> np.ndarray:
    """[N, 32, 32] each pixel's position between the estimated background (0) and ink (1)."""
    batch = _as_batch(images)
    ink, paper = ink_and_paper(batch)
    axis = ink - paper
    length = np.maximum((axis ** 2).sum(-1), 1e-6)
    return np.clip(np.einsum("nhwc,nc->nhw", batch - paper[:, None, None], axis) / length[:, None, None], 0.0, 1.0)


def to_source_space(images) -> np.ndarray:
    """[N, 8, 8] stroke grids in 0..16, comparable with load_digits' images."""
    return POOL @ stroke_values(images) @ POOL.T * SOURCE_MAX


def ink_share(images) -> np.ndarray:
    """[N] the share of each picture's pixels that are more ink than background (stroke value
    above 0.5): how bold its digit is. Painted training digits: 0.34 on average, 0.43 with
    their strokes thickened by a 3x3 maximum filter (the bold LoRA's training data)."""
    return (stroke_values(images) > 0.5).mean(axis=(1, 2))


def digits(images) -> np.ndarray:
    """The digit the judge reads in each picture."""
    grids = to_source_space(images)
    return digit_classifier().predict(grids.reshape(len(grids), -1))


def nearest_colors(rgb: np.ndarray) -> list[str]:
    palette = np.asarray([PALETTE[c] for c in COLORS], dtype=np.float64) / 255.0
    distance = np.linalg.norm(rgb[:, None] - palette[None], axis=-1)
    return [COLORS[i] for i in distance.argmin(axis=1)]


def colors(images) -> tuple[list[str], list[str]]:
    """(ink names, background names): the palette colours nearest to the estimates."""
    ink, paper = ink_and_paper(images)
    return nearest_colors(ink), nearest_colors(paper)
