"""Image nodes: load from the input (or output) folder, save and preview PNGs, save animations."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from nodeflow import Field, Image, Mask, NodeError, node
from nodeflow.workflow import dump_workflow

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
CHANNELS = ["A", "R", "G", "B"]


class ImageAndMask(NamedTuple):
    image: Image
    mask: Mask


def input_images(settings) -> list[str]:
    """Image files in the user's input folder (relative names, sorted)."""
    return _images_in(getattr(settings, "input_dir", None))


def output_images(settings) -> list[str]:
    """Image files in the user's output folder (what earlier runs saved)."""
    return _images_in(getattr(settings, "output_dir", None))


def _images_in(folder: Path | None) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _file_state_in(folder: str):
    """Cache fingerprint: load again when the file in settings.<folder> changed."""
    def state(inputs: dict, settings) -> list:
        stat = Path(getattr(settings, folder), inputs["image"]).stat()
        return [stat.st_mtime_ns, stat.st_size]
    return state


_file_state = _file_state_in("input_dir")


def _open(ctx, name: str, folder: Path | None = None, kind: str = "input"):
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    folder = (ctx.input_dir if folder is None else folder).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder):
        raise NodeError(f"'{name}' is outside the {kind} folder", input="image")
    try:
        picture = PILImage.open(path)
        picture.load()
    except FileNotFoundError:
        raise NodeError(f"'{name}' is not in the {kind} folder {folder}", input="image") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise NodeError(f"'{name}' is not a readable image ({exc})", input="image") from None
    return picture


@node(category="image", display_name="Load Image", fingerprint=_file_state)
def LoadImage(image: str = Field(choices=input_images, upload="image"), *,
              ctx) -> ImageAndMask:
    """An image from the input folder, and a mask from its alpha channel (transparent = 1)."""
    return _image_and_mask(_open(ctx, image))


def _image_and_mask(picture) -> ImageAndMask:
    from nodeflow.diffusion.images import pil_to_image, pil_to_mask

    return ImageAndMask(pil_to_image(picture), pil_to_mask(picture, "A"))


@node(category="image", display_name="Load Image (from Outputs)",
      fingerprint=_file_state_in("output_dir"))
def LoadImageOutput(image: str = Field(choices=output_images), *, ctx) -> ImageAndMask:
    """An image an earlier run saved in the output folder (to refine the last picture), and
    a mask from its alpha channel, as Load Image."""
    return _image_and_mask(_open(ctx, image, ctx.output_dir, "output"))


@node(category="image", display_name="Load Image Mask", fingerprint=_file_state)
def LoadImageMask(image: str = Field(choices=input_images, upload="image"),
                  channel: str = Field("A", choices=CHANNELS), *, ctx) -> Mask:
    """A mask from one channel of an image (alpha is inverted: transparent = 1)."""
    from nodeflow.diffusion.images import pil_to_mask

    return pil_to_mask(_open(ctx, image), channel)


def _target_folder(root: Path, prefix: str) -> tuple[Path, str, str]:
    """(folder, file stem, subfolder) for a prefix such as 'digits/seven', kept inside root."""
    if "\0" in prefix or Path(prefix).is_absolute():
        raise NodeError("the prefix must be a relative name", input="prefix")
    root = root.resolve()
    target = (root / prefix).resolve()
    if not target.is_relative_to(root) or target == root:
        raise NodeError("the prefix must stay inside the output folder", input="prefix")
    subfolder = target.parent.relative_to(root).as_posix()
    return target.parent, target.name, "" if subfolder == "." else subfolder


def _workflow_texts(workflow, registry=None) -> dict[str, str]:
    """The PNG text chunks: nodeflow's workflow, and ComfyUI's ``prompt`` and ``workflow``
    when every node has a ComfyUI counterpart (built-in ones, and the nodes of installed
    ComfyUI packs under their own names), so ComfyUI opens the image too."""
    if workflow is None:
        return {}
    from nodeflow.comfy.export import builtin_registry, comfy_chunks

    return {"nodeflow": dump_workflow(workflow),
            **comfy_chunks(workflow, registry or builtin_registry())}


def _save_pngs(images, ctx, root: Path, prefix: str, kind: str) -> None:
    from nodeflow.diffusion.images import image_to_pils, png_info
    from nodeflow.new_files import save_new_file

    folder, stem, subfolder = _target_folder(root, prefix)
    # ctx.extra (e.g. a client's extra_pnginfo) first; the workflow chunks win on a clash
    texts = {**{str(k): v if isinstance(v, str) else json.dumps(v)
                for k, v in ctx.extra.items()}, **_workflow_texts(ctx.workflow, ctx.registry)}
    saved = []
    for picture in image_to_pils(images):
        path = save_new_file(folder, stem, ".png", lambda f: picture.save(
            f, format="PNG", pnginfo=png_info(texts), compress_level=4))
        saved.append({"filename": path.name, "subfolder": subfolder, "type": kind})
    ctx.report(images=saved)


@node(category="image", display_name="Save Image", output=True)
def SaveImage(images: Image, prefix: str = Field("nodeflow", max_length=200), *, ctx) -> None:
    """PNG files in the output folder, carrying the workflow (drop one on the editor or pass
    it to `nodeflow run` to get the workflow back). Existing files are never overwritten."""
    _save_pngs(images, ctx, ctx.output_dir, prefix, "output")


@node(category="image", display_name="Preview Image", output=True, always_run=True)
def PreviewImage(images: Image, *, ctx) -> None:
    """Show images without keeping them: they go to the temp folder."""
    _save_pngs(images, ctx, ctx.temp_dir, "preview", "temp")


@node(category="image/animation", display_name="Save Animation", output=True)
def SaveAnimation(images: Image, prefix: str = Field("nodeflow-animation", max_length=200),
                  fps: float = Field(8.0, ge=0.1, le=60.0),
                  format: str = Field("webp", choices=["webp", "gif"]),
                  bounce: bool = False, *, ctx) -> None:
    """The batch as one animated image (a morph, a sweep); ``bounce`` plays it back and forth."""
    from nodeflow.diffusion.images import image_to_pils, save_animation
    from nodeflow.new_files import save_new_file

    frames = image_to_pils(images)
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    folder, stem, subfolder = _target_folder(ctx.output_dir, prefix)
    suffix = "." + format
    path = save_new_file(folder, stem, suffix,
                         lambda f: save_animation(frames, f, fmt=format.upper(), fps=fps))
    ctx.report(images=[{"filename": path.name, "subfolder": subfolder, "type": "output",
                        "animated": True}])
