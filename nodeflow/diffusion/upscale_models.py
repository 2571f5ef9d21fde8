"""Upscale models (ESRGAN, RealESRGAN, SwinIR, HAT, DAT, ... as ComfyUI loads them) through
spandrel, and tiled upscaling with ComfyUI's tile blending (comfy/utils.py, tiled_scale).

spandrel imports torchvision when it is imported, for two of its architectures (LaMa and
RestoreFormer, which call torchvision's rotate and normalize). Where torchvision cannot be
imported (no CPU build of it fits the CPU torch here), spandrel is imported with placeholder
torchvision modules that exist only during that import: every other architecture works, and
those two are refused when loaded, saying why; torchvision stays absent for everyone else.
"""
from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint_errors import CheckpointError

NEEDS_TORCHVISION = ("LaMa", "RestoreFormer")
_TORCHVISION = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


class _Unavailable:
    """Stands for a torchvision function in spandrel's modules: using it explains itself."""

    def __init__(self, name: str, reason: str):
        self._name, self._reason = name, reason

    def __getattr__(self, attr: str):
        return _Unavailable(f"{self._name}.{attr}", self._reason)

    def __call__(self, *args, **kwargs):
        raise CheckpointError(f"this model needs torchvision ({self._name}), which cannot be "
                              f"imported here: {self._reason}")


@contextlib.contextmanager
def _placeholder_torchvision(reason: str):
    created = []
    for name in _TORCHVISION:
        module = types.ModuleType(name, "placeholder: torchvision cannot be imported here")
        module.__getattr__ = lambda attr, _n=name: _Unavailable(f"{_n}.{attr}", reason)
        sys.modules[name] = module
        created.append(name)
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
    sys.modules["torchvision.transforms"].functional = sys.modules["torchvision.transforms.functional"]
    try:
        yield
    finally:
        for name in created:
            sys.modules.pop(name, None)


_SPANDREL: dict[str, object] = {}


def spandrel():
    """The spandrel module, imported once (see the module docstring for torchvision)."""
    if "module" in _SPANDREL:
        return _SPANDREL["module"]
    try:
        import torchvision  # noqa: F401
        reason = None
    except Exception as exc:  # noqa: BLE001 - ImportError, or a build that fails to load
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc}"
    try:
        if reason is None:
            import spandrel as module
        else:
            with _placeholder_torchvision(reason):
                import spandrel as module
    except ImportError as exc:
        raise CheckpointError(f"upscale models need the spandrel package ({exc}); install "
                              "it with pip install spandrel") from None
    _SPANDREL.update(module=module, torchvision_missing=reason)
    return module


def load_upscale_model(path: str | Path, *, allow_pickle: bool = False):
    """A spandrel ImageModelDescriptor (in eval mode, on the CPU) for a single-image model."""
    from .checkpoint_files import read_state_dict

    path = Path(path)
    tensors = dict(read_state_dict(path, allow_pickle=allow_pickle))
    if any(k.startswith("module.") for k in tensors):  # saved from DataParallel
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    library = spandrel()
    try:
        descriptor = library.ModelLoader().load_from_state_dict(tensors)
    except library.UnsupportedModelError:
        raise CheckpointError(f"{path}: not an upscale model architecture spandrel knows "
                              "(ESRGAN, RealESRGAN, SwinIR, HAT, DAT, ...)") from None
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a loadable upscale model ({exc})") from None
    name = descriptor.architecture.id
    missing = _SPANDREL.get("torchvision_missing")
    if name in NEEDS_TORCHVISION and missing:
        raise CheckpointError(f"{path}: a {descriptor.architecture.name} model, which needs "
                              f"torchvision; torchvision cannot be imported here ({missing})")
    if not isinstance(descriptor, library.ImageModelDescriptor):
        raise CheckpointError(f"{path}: a {descriptor.architecture.name} model takes an image "
                              "and a mask (inpainting), not an image to upscale")
    return descriptor.eval()


@dataclass(frozen=True)
class UpscaleModelRef:
    """The UPSCALE_MODEL socket: a model file, loaded once into the model cache."""

    file: object  # refs.FileIdentity
    allow_pickle: bool = False

    def load(self, ctx):
        return ctx.models.get(("upscale", self.file),
                              lambda: load_upscale_model(self.file.path,
                                                         allow_pickle=self.allow_pickle))


def tile_positions(size: int, tile: int, overlap: int) -> list[int]:
    """Where tiles start along one side (ComfyUI's tiled_scale: a stride of tile - overlap;
    the last tile is cut at the edge)."""
    if size <= tile:
        return [0]
    return sorted({max(0, min(size - overlap, p)) for p in range(0, size - overlap, tile - overlap)})


def tiled_scale(samples: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], scale: float,
                tile: int = 512, overlap: int = 32, out_channels: int = 3,
                progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """``fn`` applied tile by tile to [B, C, H, W] ``samples`` whose output is ``scale`` times
    larger; overlapping tiles blend with linear ramps over the scaled overlap."""
    batch, _, height, width = samples.shape
    rows, cols = tile_positions(height, tile, overlap), tile_positions(width, tile, overlap)
    total, done = batch * len(rows) * len(cols), 0
    out = torch.empty((batch, out_channels, round(height * scale), round(width * scale)))
    for b in range(batch):
        acc = torch.zeros((1, out_channels, out.shape[2], out.shape[3]))
        weight = torch.zeros_like(acc)
        for y in rows:
            for x in cols:
                h, w = min(tile, height - y), min(tile, width - x)
                part = fn(samples[b:b + 1, :, y:y + h, x:x + w]).float().cpu()
                mask = torch.ones_like(part)
                feather = round(overlap * scale)
                for dim in (2, 3):
                    if feather >= mask.shape[dim]:
                        continue
                    for t in range(feather):
                        rate = (t + 1) / feather
                        mask.narrow(dim, t, 1).mul_(rate)
                        mask.narrow(dim, mask.shape[dim] - 1 - t, 1).mul_(rate)
                top, left = round(y * scale), round(x * scale)
                acc[..., top:top + part.shape[2], left:left + part.shape[3]] += part * mask
                weight[..., top:top + part.shape[2], left:left + part.shape[3]] += mask
                done += 1
                if progress is not None:
                    progress(done, total)
        out[b:b + 1] = acc / weight
    return out
