"""MODEL, CLIP and VAE values: small references that load their weights on first use.

A loader node returns a reference (file identity, LoRAs to apply, clip skip), so results stay
tiny in the result cache and a re-run with another seed touches no file. The weights load into
the process-wide model cache (``ctx.models``), keyed by everything that changes them: file
state, LoRAs, device and precision.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .placement import place
from .runtime import Runtime


def _name(source) -> str:
    """A checkpoint's or part files' names, for messages."""
    files = source.file if isinstance(source.file, tuple) else (source.file,)
    return " + ".join(Path(f.path).name for f in files)


@dataclass(frozen=True)
class FileIdentity:
    """A model file or folder as it is now: a change on disk gives another identity."""

    path: str
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> "FileIdentity":
        path = Path(path)
        if path.is_dir():
            files = [p.stat() for p in path.rglob("*") if p.is_file()]
            return cls(str(path), max((s.st_mtime_ns for s in files), default=0),
                       sum(s.st_size for s in files))
        stat = path.stat()
        return cls(str(path), stat.st_mtime_ns, stat.st_size)

    def config_folder(self) -> str | None:
        """``<name>.configs/`` beside a single-file checkpoint, if present: config files for
        an architecture the package does not ship (tiny or custom models)."""
        path = Path(self.path)
        sidecar = path.with_name(path.stem + ".configs")
        return str(sidecar) if path.is_file() and sidecar.is_dir() else None


@dataclass(frozen=True)
class CheckpointSource:
    file: FileIdentity
    allow_pickle: bool = False

    def load(self, ctx, runtime: Runtime):
        """The whole checkpoint (all parts), loaded once per device and precision."""
        from .checkpoints import load_checkpoint

        key = ("checkpoint", self.file, runtime.device, runtime.weights)
        return ctx.models.get(key, lambda: runtime.prepare_checkpoint(load_checkpoint(
            self.file.path, allow_pickle=self.allow_pickle, configs=self.file.config_folder(),
            device=runtime.load_device, dtype=runtime.dtype, storage=runtime.storage)))


@dataclass(frozen=True)
class LoraSpec:
    file: FileIdentity
    strength_model: float
    strength_clip: float


def _patched(ctx, source: CheckpointSource, loras: tuple[LoraSpec, ...], runtime: Runtime):
    """(unet, text encoders) of ``source`` with ``loras`` applied in order (cached)."""
    checkpoint = source.load(ctx, runtime)
    if not loras:
        return checkpoint.unet, checkpoint.text_encoders

    def build():
        from .checkpoint_files import read_state_dict
        from .checkpoint_lora import apply_lora

        unet, encoders = _patched(ctx, source, loras[:-1], runtime)
        spec = loras[-1]
        weights = read_state_dict(spec.file.path)
        patched = apply_lora(unet, encoders, weights, spec.strength_model, spec.strength_clip,
                             source=spec.file.path)
        return patched.unet, tuple(patched.text_encoders)

    key = ("lora", source.file, loras, runtime.device, runtime.weights)
    return ctx.models.get(key, build)


@dataclass(frozen=True)
class ModelRef:
    """The MODEL socket: a checkpoint's UNet with its noise schedule, plus LoRAs."""

    source: CheckpointSource
    loras: tuple[LoraSpec, ...] = ()

    def with_lora(self, lora: LoraSpec) -> "ModelRef":
        return replace(self, loras=self.loras + (lora,))

    def load(self, ctx, runtime: Runtime) -> tuple[torch.nn.Module, Any]:
        """(unet, the LoadedCheckpoint it came from: arch, prediction type, VAE facts)."""
        unet, _ = _patched(ctx, self.source, self.loras, runtime)
        place(ctx, unet, f"the UNet of {_name(self.source)}")
        return unet, self.source.load(ctx, runtime)


@dataclass(frozen=True)
class ClipRef:
    """The CLIP socket: text encoder(s) + tokenizer of a checkpoint, LoRAs, and clip skip."""

    source: CheckpointSource
    loras: tuple[LoraSpec, ...] = ()
    skip: int | None = None
    """Layers to skip from the end (1 = last layer); None = the family's default."""

    def with_lora(self, lora: LoraSpec) -> "ClipRef":
        return replace(self, loras=self.loras + (lora,))

    def load(self, ctx, runtime: Runtime) -> tuple[tuple[torch.nn.Module, ...], str]:
        """(text encoders, architecture name)."""
        _, encoders = _patched(ctx, self.source, self.loras, runtime)
        for encoder in encoders:
            place(ctx, encoder, f"the text encoder of {_name(self.source)}")
        return encoders, self.source.load(ctx, runtime).arch


@dataclass(frozen=True)
class VaeRef:
    """The VAE socket: the VAE inside a checkpoint, or a standalone VAE file."""

    checkpoint: CheckpointSource | None = None
    file: FileIdentity | None = None
    allow_pickle: bool = False

    def load(self, ctx, runtime: Runtime) -> torch.nn.Module:
        if self.checkpoint is not None:
            return place(ctx, self.checkpoint.load(ctx, runtime).vae,
                         f"the VAE of {_name(self.checkpoint)}")

        def build():
            from .checkpoints import load_vae

            return load_vae(self.file.path, allow_pickle=self.allow_pickle,
                            device=runtime.load_device, dtype=runtime.vae_dtype, storage=runtime.storage)

        vae = ctx.models.get(("vae", self.file, runtime.device, str(runtime.vae_dtype), runtime.storage), build)
        return place(ctx, vae, f"the VAE {Path(self.file.path).name}")


@dataclass(frozen=True)
class PartSource:
    """A model loaded by its parts (UNETLoader, CLIPLoader, DualCLIPLoader): one UNet file
    (``kind`` "unet") or text encoder files (``kind`` the CLIP type: "stable_diffusion",
    "sdxl"). MODEL and CLIP references take it like a CheckpointSource. ``cpu`` keeps the
    text encoders on the CPU whatever the run's device (ComfyUI's device: cpu);
    ``weight_dtype`` (an fp8 type of fp8.FP8_DTYPES) stores a UNet's layers in 8 bits."""

    files: tuple[FileIdentity, ...]
    kind: str
    allow_pickle: bool = False
    cpu: bool = False
    weight_dtype: str = "default"

    @property
    def file(self) -> tuple[FileIdentity, ...]:
        return self.files

    def load(self, ctx, runtime: Runtime):
        if self.cpu:
            runtime = Runtime.choose("fp32", "cpu")
        key = ("part", self.kind, self.files, runtime.device, runtime.weights,
               self.weight_dtype)

        def build():
            from .part_loading import load_text_encoders, load_unet

            if self.kind == "unet":
                loaded = load_unet(self.files[0].path, allow_pickle=self.allow_pickle,
                                   device=runtime.load_device, dtype=runtime.dtype, storage=runtime.storage)
                runtime.lay_out_unet(loaded.unet)
                if self.weight_dtype != "default":
                    from .fp8 import store_in_fp8

                    store_in_fp8(loaded.unet, self.weight_dtype)
                return loaded
            return load_text_encoders([f.path for f in self.files], self.kind,
                                      allow_pickle=self.allow_pickle, device=runtime.load_device,
                                      dtype=runtime.dtype, storage=runtime.storage)

        return ctx.models.get(key, build)
