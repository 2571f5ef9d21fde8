"""ControlNet with ComfyUI's nodes: load one (ControlNetLoader, DiffControlNetLoader), apply it to
prompts (ControlNetApply, ControlNetApplyAdvanced; several stack). The hint images come from
preprocessors.py (Canny, XDoG lines, binary lines)."""
from __future__ import annotations

from typing import NamedTuple

from nodeflow import Conditioning, Field, Image, Model, NodeError, Vae, node, socket_type

from .loaders import _file_state, _load_file, model_names

ControlNet = socket_type("CONTROL_NET", "#00d78d", doc="A ControlNet: guides the UNet with an image")


class PositiveNegative(NamedTuple):
    positive: Conditioning
    negative: Conditioning


def _load(ctx, name: str, input_name: str, base=None):
    from nodeflow.diffusion.controlnet import ControlNetRef

    ref, (net, family) = _load_file(
        ctx, "controlnet", name, input_name,
        lambda identity, allow_pickle: ControlNetRef(identity, allow_pickle, base))
    kind = "T2I-Adapter" if type(net).__name__ == "T2IAdapter" else "ControlNet"
    ctx.log(f"{name}: {family} {kind}")
    return ref


@node(category="loaders", display_name="Load ControlNet Model",
      fingerprint=_file_state("controlnet", "control_net_name"))
def ControlNetLoader(control_net_name: str = Field(choices=model_names("controlnet")), *,
                     ctx) -> ControlNet:
    """A ControlNet for SD 1.x, 2.x or XL (original or diffusers layout), or a T2I-Adapter
    (full, light or XL; TencentARC's or diffusers' layout), from models/controlnet, also
    models/t2i_adapter."""
    return _load(ctx, control_net_name, "control_net_name")


@node(category="loaders", display_name="Load ControlNet Model (diff)",
      fingerprint=_file_state("controlnet", "control_net_name"))
def DiffControlNetLoader(model: Model, control_net_name: str = Field(
        choices=model_names("controlnet")), *, ctx) -> ControlNet:
    """A ControlNet saved as differences from a base model (a "difference" file): the model's
    UNet weights are added back. An ordinary ControlNet file loads as with Load ControlNet."""
    return _load(ctx, control_net_name, "control_net_name", base=model)


def _apply(conditioning, net, image, strength, start, end, shared: dict, vae=None):
    from nodeflow.diffusion.conditioning import Conditioning as Cond
    from nodeflow.diffusion.controlnet import ControlSpec

    entries = []
    for entry in conditioning:
        previous = entry.extra.get("control")
        key = id(previous)
        if key not in shared:  # entries with the same previous ControlNet share the new one
            shared[key] = ControlSpec(net, image, strength, start, end, previous, vae)
        entries.append(entry.with_extra(control=shared[key]))
    return Cond(tuple(entries))


def _needs_vae(ctx, control_net) -> bool:
    """Whether the ControlNet takes its hint as a latent (already loaded by its loader)."""
    from nodeflow.diffusion.controlnet import takes_latent_hint
    from nodeflow.diffusion.runtime import Runtime

    net, _ = control_net.load(ctx, Runtime.for_ctx(ctx))
    return hasattr(net.config, "conditioning_embedding_out_channels") and takes_latent_hint(net)


def _check(image, start: float = 0.0, end: float = 1.0):
    if image.ndim != 4 or image.shape[-1] != 3:
        raise NodeError(f"expected an IMAGE [batch, height, width, 3], got {tuple(image.shape)}",
                        input="image")
    if start > end:
        raise NodeError(f"start_percent {start} is after end_percent {end}", input="start_percent")


@node(category="conditioning/controlnet", display_name="Apply ControlNet (Old)")
def ControlNetApply(conditioning: Conditioning, control_net: ControlNet, image: Image,
                    strength: float = Field(1.0, ge=0.0, le=10.0, step=0.01), *,
                    ctx) -> Conditioning:
    """Guide one prompt with a ControlNet or T2I-Adapter and its hint image (an edge map, a
    pose, ...) for the whole sampling; apply several to stack them."""
    _check(image)
    if strength == 0:
        return conditioning
    if _needs_vae(ctx, control_net):
        raise NodeError("this ControlNet takes its hint as a latent and needs a VAE: use "
                        "Apply ControlNet (ControlNetApplyAdvanced) with its vae input",
                        input="control_net")
    return _apply(conditioning, control_net, image, strength, 0.0, 1.0, {})


@node(category="conditioning/controlnet", display_name="Apply ControlNet")
def ControlNetApplyAdvanced(positive: Conditioning, negative: Conditioning,
                            control_net: ControlNet, image: Image,
                            strength: float = Field(1.0, ge=0.0, le=10.0, step=0.01),
                            start_percent: float = Field(0.0, ge=0.0, le=1.0, step=0.001),
                            end_percent: float = Field(1.0, ge=0.0, le=1.0, step=0.001),
                            vae: Vae | None = None, *, ctx) -> PositiveNegative:
    """Guide both prompts with a ControlNet or T2I-Adapter and its hint image, from
    ``start_percent`` to ``end_percent`` of the sampling (0 = the first step); apply several to
    stack them. A ControlNet that takes its hint as a latent gets the image encoded by
    ``vae`` (and needs one); SD ControlNets and T2I-Adapters take the image itself."""
    _check(image, start_percent, end_percent)
    if strength == 0:
        return PositiveNegative(positive, negative)
    if vae is None and _needs_vae(ctx, control_net):
        raise NodeError("this ControlNet takes its hint as a latent and needs a VAE: connect "
                        "one", input="vae")
    shared: dict = {}
    args = (control_net, image, strength, start_percent, end_percent, shared, vae)
    return PositiveNegative(_apply(positive, *args), _apply(negative, *args))
