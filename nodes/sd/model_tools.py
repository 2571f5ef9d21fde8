"""Model merging and saving with ComfyUI's names: ModelMergeSimple, CLIPMergeSimple and
CheckpointSave (one .safetensors in the original layout that model sites use, carrying the
workflow in its metadata)."""
from __future__ import annotations

from nodeflow import Clip, Field, Model, NodeError, Vae, node

RATIO = Field(1.0, ge=0.0, le=1.0, step=0.01)


@node(category="advanced/model_merging", display_name="ModelMergeSimple")
def ModelMergeSimple(model1: Model, model2: Model, ratio: float = RATIO, *, ctx) -> Model:
    """The two models' UNets mixed: model1 x ratio + model2 x (1 - ratio)."""
    from nodeflow.diffusion.checkpoint_errors import CheckpointError
    from nodeflow.diffusion.merge import MergedModelRef
    from nodeflow.diffusion.runtime import Runtime

    merged = MergedModelRef(model1, model2, ratio)
    try:
        merged.load(ctx, Runtime.for_ctx(ctx))
    except CheckpointError as exc:
        raise NodeError(str(exc), input="model2") from None
    return merged


@node(category="advanced/model_merging", display_name="CLIPMergeSimple")
def CLIPMergeSimple(clip1: Clip, clip2: Clip, ratio: float = RATIO, *, ctx) -> Clip:
    """The two text encoders mixed: clip1 x ratio + clip2 x (1 - ratio)."""
    from nodeflow.diffusion.checkpoint_errors import CheckpointError
    from nodeflow.diffusion.merge import MergedClipRef
    from nodeflow.diffusion.runtime import Runtime

    merged = MergedClipRef(clip1, clip2, ratio, skip=getattr(clip1, "skip", None))
    try:
        merged.load(ctx, Runtime.for_ctx(ctx))
    except CheckpointError as exc:
        raise NodeError(str(exc), input="clip2") from None
    return merged


@node(category="advanced/model_merging", display_name="Save Checkpoint", output=True)
def CheckpointSave(model: Model, clip: Clip, vae: Vae,
                   prefix: str = Field("checkpoints/nodeflow", max_length=200), *, ctx) -> None:
    """The model, text encoder(s) and VAE as one .safetensors checkpoint in the output folder
    (the original single-file layout, which CheckpointLoader and ComfyUI load), with the
    workflow in its metadata. Clip skip is a setting, not a weight: it is not saved."""
    import json

    from safetensors.torch import save

    from nodeflow.new_files import save_new_file
    from nodeflow.diffusion.merge import checkpoint_state_dict
    from nodeflow.diffusion.runtime import Runtime

    from .images import _target_folder, _workflow_texts

    runtime = Runtime.for_ctx(ctx)
    unet, checkpoint = model.load(ctx, runtime)
    encoders, arch = clip.load(ctx, runtime)
    if arch.split("-")[0] != checkpoint.arch.split("-")[0]:
        raise NodeError(f"the text encoder is {arch} but the model is {checkpoint.arch}",
                        input="clip")
    module = vae.load(ctx, runtime)
    tensors = checkpoint_state_dict(checkpoint.arch, unet, module, encoders)
    if checkpoint.prediction_type == "v_prediction":
        import torch

        tensors["v_pred"] = torch.zeros(0)  # the marker ComfyUI writes for v models
    metadata = {k: v if isinstance(v, str) else json.dumps(v)
                for k, v in _workflow_texts(ctx.workflow, ctx.registry).items()}
    metadata["modelspec.architecture"] = {"sd1": "stable-diffusion-v1", "sdxl":
                                          "stable-diffusion-xl-v1-base"}.get(
        checkpoint.arch, "stable-diffusion-v2")
    folder, stem, subfolder = _target_folder(ctx.output_dir, prefix)
    path = save_new_file(folder, stem, ".safetensors",
                         lambda f: f.write(save(tensors, metadata=metadata)))
    ctx.log(f"saved {len(tensors)} tensors to {path}")
    ctx.report(files=[{"filename": path.name, "subfolder": subfolder, "type": "output"}])
