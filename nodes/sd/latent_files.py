"""SaveLatent and LoadLatent with ComfyUI's file format: a safetensors file ending in
``.latent`` holding ``latent_tensor`` (the raw latents) and an empty ``latent_format_version_0``
marker, with the workflow in its metadata. Files written before the marker existed held
latents multiplied by SD's 0.18215; they are divided back when read, as ComfyUI does."""
from __future__ import annotations

from pathlib import Path

from nodeflow import Field, Latent, NodeError, node

from .images import _target_folder, _workflow_texts

SUFFIX = ".latent"
TENSOR = "latent_tensor"
VERSION_MARK = "latent_format_version_0"
OLD_SCALE = 0.18215
"""Files without the version mark hold latents x SD 1.x's scaling factor."""


def input_latents(settings) -> list[str]:
    """.latent files in the user's input folder (relative names, sorted)."""
    folder = getattr(settings, "input_dir", None)
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*" + SUFFIX)
                  if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _latent_path(folder: Path, name: str) -> Path:
    folder = folder.resolve()
    path = (folder / name).resolve()
    if "\0" in name or not path.is_relative_to(folder):
        raise NodeError(f"'{name}' is outside the input folder", input="latent")
    if not path.is_file():
        raise NodeError(f"'{name}' is not in the input folder {folder}", input="latent")
    return path


def _file_state(inputs: dict, settings) -> list:
    """Cache fingerprint: load again when the file on disk changed."""
    stat = _latent_path(settings.input_dir, inputs["latent"]).stat()
    return [stat.st_mtime_ns, stat.st_size]


@node(category="_for_testing", display_name="Save Latent", output=True)
def SaveLatent(latent: Latent, prefix: str = Field("latents/nodeflow", max_length=200), *,
               ctx) -> None:
    """The latents as a ``.latent`` file in the output folder (ComfyUI's format, with the
    workflow); move it to the input folder to load it again. Never overwrites a file."""
    import json

    import torch
    from safetensors.torch import save

    from nodeflow.new_files import save_new_file

    folder, stem, subfolder = _target_folder(ctx.output_dir, prefix)
    texts = {**{str(k): v if isinstance(v, str) else json.dumps(v)
                for k, v in ctx.extra.items()}, **_workflow_texts(ctx.workflow, ctx.registry)}
    data = save({TENSOR: latent.samples.contiguous(), VERSION_MARK: torch.tensor([])},
                metadata=texts or None)
    path = save_new_file(folder, stem, SUFFIX, lambda f: f.write(data))
    ctx.report(latents=[{"filename": path.name, "subfolder": subfolder, "type": "output"}])


@node(category="_for_testing", display_name="Load Latent", fingerprint=_file_state)
def LoadLatent(latent: str = Field(choices=input_latents), *, ctx) -> Latent:
    """Latents from a ``.latent`` file in the input folder (as Save Latent or ComfyUI wrote
    it)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from nodeflow.diffusion.latent import LatentBatch

    path = _latent_path(ctx.input_dir, latent)
    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, OSError) as exc:
        raise NodeError(f"'{latent}' is not a readable latent file ({exc})",
                        input="latent") from None
    samples = tensors.get(TENSOR)
    if samples is None or samples.ndim != 4:
        raise NodeError(f"'{latent}' holds no '{TENSOR}' [batch, channels, height, width]",
                        input="latent")
    multiplier = 1.0 if VERSION_MARK in tensors else 1.0 / OLD_SCALE
    return LatentBatch(samples.float() * multiplier)
