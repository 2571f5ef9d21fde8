"""XY plot: a labelled grid of pictures over two varied inputs (sampler x cfg, prompt x seed)."""
from __future__ import annotations

from nodeflow import AnyType, Field, Image, NodeError, node

MIN_CELL = 96
MAX_LABEL = 28


def _label(value: object) -> str:
    text = value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) \
        else str(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


@node(category="image", display_name="XY Plot")
def XYPlot(images: list[Image], x: list[AnyType], y: list[AnyType],
           x_title: str = Field("", max_length=100), y_title: str = Field("", max_length=100)
           ) -> Image:
    """One picture per (x, y) pair, row by row as XY Product makes them, in a grid with the
    x values as column labels and the y values as row labels. Small pictures are enlarged
    (nearest neighbour) to at least 96 px so the labels fit."""
    import numpy as np
    import torch
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    pictures = [image[i] for image in images for i in range(image.shape[0])]
    columns, rows = len(x), len(y)
    if len(pictures) != columns * rows:
        raise NodeError(f"{len(pictures)} pictures for a grid of {columns} x values by {rows} y "
                        f"values ({columns * rows} cells)", input="images")
    height, width = pictures[0].shape[0], pictures[0].shape[1]
    if any(p.shape[:2] != (height, width) for p in pictures):
        raise NodeError("the pictures differ in size", input="images")
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(PILImage.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        box = probe.textbbox((0, 0), text, font=font)
        return box[2] - box[0], box[3] - box[1]

    x_labels = [_label(v) for v in x]
    y_labels = [_label(v) for v in y]
    widest = max(text_size(t)[0] for t in x_labels) + 8
    zoom = max(1, -(-MIN_CELL // max(height, width)), -(-widest // width))
    cell_w, cell_h = width * zoom, height * zoom
    line = text_size("Ag")[1] + 6
    left = max([text_size(t)[0] for t in y_labels + [y_title]] + [0]) + 12
    top = line * (2 if x_title else 1) + 4
    grid = PILImage.new("RGB", (left + columns * cell_w, top + rows * cell_h), "white")
    draw = ImageDraw.Draw(grid)
    if x_title:
        draw.text((left, 2), x_title, fill="black", font=font)
    if y_title:
        draw.text((4, 2), y_title, fill="black", font=font)
    for c, text in enumerate(x_labels):
        tw = text_size(text)[0]
        draw.text((left + c * cell_w + max(0, (cell_w - tw) // 2), top - line), text,
                  fill="black", font=font)
    for r, text in enumerate(y_labels):
        draw.text((4, top + r * cell_h + cell_h // 2 - line // 2), text, fill="black", font=font)
    for index, picture in enumerate(pictures):
        r, c = divmod(index, columns)
        pixels = (picture[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        tile = PILImage.fromarray(pixels).resize((cell_w, cell_h), PILImage.NEAREST)
        grid.paste(tile, (left + c * cell_w, top + r * cell_h))
    array = np.asarray(grid, dtype=np.float32) / 255.0
    return torch.from_numpy(array.copy())[None]
