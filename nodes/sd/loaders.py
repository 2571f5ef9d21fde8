"""Loader nodes: checkpoints, standalone VAEs and LoRAs, from the user's model folders and
the models shipped with nodeflow."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from nodeflow import Clip, Field, Model, NodeError, Vae, node
from nodeflow.diffusion.checkpoint_paths import BUILTIN_CHECKPOINT as BUILTIN_MODEL


class ModelClipVae(NamedTuple):
    model: Model
    clip: Clip
    vae: Vae


class ModelClip(NamedTuple):
    model: Model
    clip: Clip


def _base_dir(settings):
    return settings.base_dir if settings is not None else None


def model_names(kind: str):
    """Choices for a model input: the user's files of that kind, then the shipped ones (the
    built-in checkpoint first of all)."""
    def names(settings) -> list[str]:
        from nodeflow.diffusion.checkpoint_paths import available_models

        return [str(n) for n in available_models(_base_dir(settings), kind)]
    return names


def _resolve(kind: str, name: str, settings, input_name: str) -> Path:
    from nodeflow.diffusion.checkpoint_errors import CheckpointError
    from nodeflow.diffusion.checkpoint_paths import resolve_available

    try:
        return resolve_available(_base_dir(settings), kind, name)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        raise NodeError(str(exc), input=input_name) from None


def _file_state(kind: str, input_name: str):
    """Cache fingerprint: a changed file on disk re-runs the loader."""
    def state(inputs: dict, settings) -> list:
        from nodeflow.diffusion.refs import FileIdentity

        identity = FileIdentity.of(_resolve(kind, inputs[input_name], settings, input_name))
        return [identity.path, identity.mtime_ns, identity.size]
    return state


def _load_or_explain(load, input_name: str):
    from nodeflow.diffusion.checkpoint_errors import CheckpointError

    try:
        return load()
    except CheckpointError as exc:
        raise NodeError(str(exc), input=input_name) from None


def _load_file(ctx, kind: str, name: str, input_name: str, make_ref, runtime: bool = True):
    """(reference, loaded model) for file ``name`` of ``models/<kind>``: ``make_ref(identity,
    allow_pickle)`` describes it, and it is loaded now so that a bad file fails this node,
    naming ``input_name``."""
    from nodeflow.diffusion.refs import FileIdentity
    from nodeflow.diffusion.runtime import Runtime

    ref = make_ref(FileIdentity.of(_resolve(kind, name, ctx.settings, input_name)),
                   ctx.settings.allow_pickle)
    loaded = _load_or_explain(lambda: ref.load(ctx, Runtime.for_ctx(ctx)) if runtime
                              else ref.load(ctx), input_name)
    return ref, loaded


@node(category="loaders", display_name="Load Checkpoint",
      fingerprint=_file_state("checkpoints", "checkpoint"))
def CheckpointLoader(checkpoint: str = Field(BUILTIN_MODEL, choices=model_names("checkpoints")),
                     *, ctx) -> ModelClipVae:
    """A Stable Diffusion checkpoint (SD 1.x, 2.x, XL: single .safetensors file or diffusers
    folder), split into the denoising model, the text encoder and the VAE. Pickle files
    (.ckpt) load only when the user allowed them."""
    return _split_checkpoint(ctx, "checkpoints", checkpoint, "checkpoint")


@node(category="advanced/loaders/deprecated", display_name="DiffusersLoader",
      fingerprint=_file_state("diffusers", "model_path"))
def DiffusersLoader(model_path: str = Field(choices=model_names("diffusers")), *,
                    ctx) -> ModelClipVae:
    """A diffusers folder (model_index.json with unet/, vae/, text_encoder/) from
    models/diffusers, as ComfyUI's loader of that name; Load Checkpoint reads the same
    folders from models/checkpoints."""
    return _split_checkpoint(ctx, "diffusers", model_path, "model_path")


def _split_checkpoint(ctx, kind: str, name: str, input_name: str) -> ModelClipVae:
    from nodeflow.diffusion.refs import (
        CheckpointSource,
        ClipRef,
        FileIdentity,
        ModelRef,
        VaeRef,
    )
    from nodeflow.diffusion.runtime import Runtime

    path = _resolve(kind, name, ctx.settings, input_name)
    source = CheckpointSource(FileIdentity.of(path), allow_pickle=ctx.settings.allow_pickle)
    runtime = Runtime.for_ctx(ctx)
    loaded = _load_or_explain(lambda: source.load(ctx, runtime), input_name)
    ctx.log(f"{name}: {loaded.arch} ({loaded.prediction_type}), {runtime.describe()}")
    return ModelClipVae(ModelRef(source), ClipRef(source), VaeRef(checkpoint=source))


@node(category="loaders", display_name="Load VAE", fingerprint=_file_state("vae", "vae"))
def LoadVAE(vae: str = Field(choices=model_names("vae")), *, ctx) -> Vae:
    """A standalone VAE file (such as sd-vae-ft-mse or the SDXL VAE) to swap in."""
    from nodeflow.diffusion.refs import FileIdentity, VaeRef
    from nodeflow.diffusion.runtime import Runtime

    path = _resolve("vae", vae, ctx.settings, "vae")
    ref = VaeRef(file=FileIdentity.of(path), allow_pickle=ctx.settings.allow_pickle)
    _load_or_explain(lambda: ref.load(ctx, Runtime.for_ctx(ctx)), "vae")
    return ref


STRENGTH = {"ge": -10.0, "le": 10.0, "step": 0.01}


@node(category="loaders", display_name="Load LoRA", fingerprint=_file_state("loras", "lora"))
def LoadLoRA(model: Model, clip: Clip, lora: str = Field(choices=model_names("loras")),
             strength_model: float = Field(1.0, **STRENGTH),
             strength_clip: float = Field(1.0, **STRENGTH), *, ctx) -> ModelClip:
    """A kohya/A1111 LoRA applied to the model and the text encoder. The base model is not
    changed (other nodes still see it without the LoRA); strength 0 changes nothing."""
    from nodeflow.diffusion.refs import FileIdentity, LoraSpec
    from nodeflow.diffusion.runtime import Runtime

    if strength_model == 0 and strength_clip == 0:
        return ModelClip(model, clip)
    path = _resolve("loras", lora, ctx.settings, "lora")
    spec = LoraSpec(FileIdentity.of(path), strength_model, strength_clip)
    new_model, new_clip = model.with_lora(spec), clip.with_lora(spec)  # one patched copy
    runtime = Runtime.for_ctx(ctx)
    _load_or_explain(lambda: (new_model.load(ctx, runtime), new_clip.load(ctx, runtime)), "lora")
    return ModelClip(new_model if strength_model else model, new_clip if strength_clip else clip)


@node(category="loaders", display_name="Load LoRA (model only)",
      fingerprint=_file_state("loras", "lora"))
def LoadLoRAModelOnly(model: Model, lora: str = Field(choices=model_names("loras")),
                      strength_model: float = Field(1.0, **STRENGTH), *, ctx) -> Model:
    """A LoRA applied to the model alone, for graphs with no text encoder at hand (a LoRA
    stack after a model merge, or a UNet loaded on its own). Its text-encoder weights, if
    any, are ignored; strength 0 changes nothing."""
    from nodeflow.diffusion.refs import FileIdentity, LoraSpec
    from nodeflow.diffusion.runtime import Runtime

    if strength_model == 0:
        return model
    path = _resolve("loras", lora, ctx.settings, "lora")
    new_model = model.with_lora(LoraSpec(FileIdentity.of(path), strength_model, 0.0))
    _load_or_explain(lambda: new_model.load(ctx, Runtime.for_ctx(ctx)), "lora")
    return new_model
