"""ControlNet for SD 1.x, SD 2.x and SDXL, as ComfyUI applies it (comfy/controlnet.py).

Files: a single file in the original layout (``control_model.`` prefix or none:
input_blocks/zero_convs/input_hint_block/middle_block_out, as lllyasviel's and most model sites'
files), a single file in diffusers' layout (controlnet_cond_embedding/controlnet_down_blocks),
or a diffusers folder. The network is diffusers' ControlNetModel, built from the family's
shipped UNet config.

At sampling, a conditioning carrying a ControlNet gives the UNet the net's residuals x strength,
for sigmas within its start/end range, summed with those of the ControlNets applied before it
(stacked). The hint image is resized (nearest-exact, centre crop) to 8x the latent window the
model sees, as ComfyUI does, and passed in 0..1.

The hint embedding's size is read off the file: SD ControlNets take a 3-channel image and
downscale it 8x (four hint levels); smaller nets downscale less (nodeflow-tiny's, 4x). A hint
embedding that does not downscale at all works at the latent's own resolution, so its hint is
a latent: the image is encoded with the VAE given to ControlNetApplyAdvanced (and scaled as
the model's latents are), as ComfyUI does for ControlNets that need a VAE.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import checkpoint_keys as keys
from .checkpoint_build import fill, read_config
from .checkpoint_errors import CheckpointError
from .checkpoint_files import read_component_folder, read_state_dict
from .checkpoints import CONFIG_ROOT

_UNET_FIELDS = ("in_channels", "flip_sin_to_cos", "freq_shift", "down_block_types",
                "block_out_channels", "layers_per_block", "downsample_padding", "act_fn",
                "norm_num_groups", "norm_eps", "cross_attention_dim",
                "transformer_layers_per_block", "attention_head_dim", "use_linear_projection",
                "addition_embed_type", "addition_time_embed_dim",
                "projection_class_embeddings_input_dim", "upcast_attention")
HINT_CHANNELS = (16, 32, 96, 256)


def controlnet_config(unet_config: dict, hint_channels=HINT_CHANNELS,
                      conditioning_channels: int = 3) -> dict:
    config = {k: unet_config[k] for k in _UNET_FIELDS if k in unet_config}
    return dict(config, in_channels=4, conditioning_embedding_out_channels=tuple(hint_channels),
                conditioning_channels=conditioning_channels)


def hint_factor(net) -> int:
    """How much the net's hint embedding downscales its hint (8 for SD ControlNets)."""
    return 2 ** (len(net.config.conditioning_embedding_out_channels) - 1)


def takes_latent_hint(net) -> bool:
    """A hint embedding at the latent's own resolution takes a latent, not an image."""
    return hint_factor(net) == 1


def _hint_shape(sd, layout: str, prefix: str) -> tuple[tuple[int, ...], int]:
    """(hint embedding channels per level, hint input channels) read off the tensors."""
    if layout == "original":
        convs = sorted(int(k[len(prefix) + len("input_hint_block."):].split(".")[0]) for k in sd
                       if k.startswith(prefix + "input_hint_block.") and k.endswith(".weight"))
        weight = lambda i: sd[f"{prefix}input_hint_block.{convs[i]}.weight"]  # noqa: E731
        levels = len(convs) // 2
        channels = [weight(0).shape[0]] + [weight(2 * k + 2).shape[0] for k in range(levels - 1)]
        return tuple(channels), weight(0).shape[1]
    stem = "controlnet_cond_embedding."
    blocks = len({k.split(".")[2] for k in sd if k.startswith(stem + "blocks.")})
    channels = [sd[stem + "conv_in.weight"].shape[0]] + [
        sd[f"{stem}blocks.{2 * k + 1}.weight"].shape[0] for k in range(blocks // 2)]
    return tuple(channels), sd[stem + "conv_in.weight"].shape[1]


def _build(config: dict):
    from diffusers import ControlNetModel

    with torch.device("meta"):
        return ControlNetModel.from_config(config)


def _controlnet_pairs(config: dict) -> list:
    pairs = keys._unet_pairs(dict(config, up_block_types=[]))
    pairs = [p for p in pairs if not p[0].startswith(("conv_norm_out", "conv_out"))]
    levels = len(config.get("conditioning_embedding_out_channels", HINT_CHANNELS))
    pairs.append(("controlnet_cond_embedding.conv_in", "input_hint_block.0", {}))
    for k in range(2 * (levels - 1)):
        pairs.append((f"controlnet_cond_embedding.blocks.{k}", f"input_hint_block.{2 * (k + 1)}", {}))
    pairs.append(("controlnet_cond_embedding.conv_out",
                  f"input_hint_block.{4 * (levels - 1) + 2}", {}))
    n = len(config["block_out_channels"])
    layers = config["layers_per_block"]
    for i in range(1 + n * layers + (n - 1)):
        pairs.append((f"controlnet_down_blocks.{i}", f"zero_convs.{i}.0", {}))
    pairs.append(("controlnet_mid_block", "middle_block_out.0", {}))
    return pairs


def _layout(sd) -> tuple[str, str]:
    for prefix in ("control_model.", ""):
        if prefix + "input_hint_block.0.weight" in sd:
            return "original", prefix
    if "controlnet_cond_embedding.conv_in.weight" in sd:
        return "diffusers", ""
    if any(k.startswith(("body.", "conv_in.weight")) for k in sd) and \
            any("adapter" in k or k.startswith("body.") for k in sd):
        raise CheckpointError("this looks like a T2I-Adapter; T2I-Adapters are not supported yet")
    raise CheckpointError("not a ControlNet: no input_hint_block (original layout) or "
                          "controlnet_cond_embedding (diffusers layout) tensors")


def _family(sd, layout: str, prefix: str, root: Path) -> str:
    """sd1 / sd2 / sdxl by the cross-attention width (and SDXL's added embedding)."""
    if layout == "original":
        adm = prefix + "label_emb.0.0.weight" in sd
        probe = next((k for k in sd if k.startswith(prefix) and k.endswith("attn2.to_k.weight")),
                     None)
    else:
        adm = "add_embedding.linear_1.weight" in sd
        probe = next((k for k in sd if k.endswith("attn2.to_k.weight")), None)
    if adm:
        return "sdxl"
    if probe is None:
        raise CheckpointError("a ControlNet without cross-attention is not supported")
    width = sd[probe].shape[1]
    for family in ("sd1", "sd2"):
        if read_config(root / family / "unet")["cross_attention_dim"] == width:
            return family
    raise CheckpointError(f"a ControlNet with {width}-wide text conditioning fits none of SD 1.x "
                          "(768), SD 2.x (1024) or SDXL")


def load_controlnet(path: str | os.PathLike, *, allow_pickle: bool = False, device="cpu",
                    dtype: torch.dtype = torch.float32, configs=None, base=None):
    """(ControlNetModel in eval mode, family "sd1" | "sd2" | "sdxl"). A file with a
    ``difference`` marker holds differences from a base UNet: ``base`` (original-layout UNet
    tensors under the control_model. prefix) is added back, as ComfyUI does."""
    path = Path(path)
    if path.is_dir():
        from diffusers import ControlNetModel

        config = read_config(path)
        with torch.device("meta"):
            net = ControlNetModel.from_config(config)
        sd = read_component_folder(path, allow_pickle=allow_pickle)
        fill(net, sd, {k: k for k in net.state_dict()}, set(), path, "ControlNet", device, dtype)
        family = "sdxl" if config.get("addition_embed_type") == "text_time" else (
            "sd2" if config.get("use_linear_projection") else "sd1")
        return net, family
    sd = read_state_dict(path, allow_pickle=allow_pickle)
    if "difference" in sd:
        if base is None:
            raise CheckpointError(f"{path}: a difference ControlNet; load it with "
                                  "DiffControlNetLoader and the model it was made from")
        sd = {k: (v + base[k].to(v) if k in base and base[k].shape == v.shape else v)
              for k, v in sd.items() if k != "difference"}
    root = Path(configs) if configs is not None else _sidecar(path)
    try:
        layout, prefix = _layout(sd)
        family = _family(sd, layout, prefix, root)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    hint_channels, conditioning_channels = _hint_shape(sd, layout, prefix)
    config = controlnet_config(read_config(root / family / "unet"), hint_channels,
                               conditioning_channels)
    net = _build(config)
    if layout == "original":
        renamed = keys._rename(net.state_dict(), _controlnet_pairs(config))
        names = {k: prefix + o for k, o in renamed.items()}
    else:
        names = {k: k for k in net.state_dict()}
    fill(net, sd, names, set(), path, "ControlNet", device, dtype)
    return net, family


def _sidecar(path: Path) -> Path:
    sidecar = path.with_name(path.stem + ".configs")
    return sidecar if sidecar.is_dir() else CONFIG_ROOT


def to_original_layout(net) -> dict[str, torch.Tensor]:
    """A ControlNetModel's tensors in the original layout (with the control_model. prefix)."""
    config = dict(net.config)
    renamed = keys._rename(net.state_dict(), _controlnet_pairs(config))
    return {"control_model." + o: net.state_dict()[k].contiguous() for k, o in renamed.items()}


@dataclass(frozen=True)
class ControlNetRef:
    """The CONTROL_NET socket: a ControlNet file, loaded once per device and precision;
    ``base`` (a MODEL) completes a "difference" ControlNet (DiffControlNetLoader)."""

    file: Any  # refs.FileIdentity
    allow_pickle: bool = False
    base: Any = None

    def load(self, ctx, runtime):
        key = ("controlnet", self.file, self.base, runtime.device, str(runtime.dtype))

        def build():
            base = None
            if self.base is not None:
                unet, _ = self.base.load(ctx, runtime)
                base = {"control_model." + o: unet.state_dict()[k] for k, o in
                        keys.unet_key_map(unet.state_dict(), unet.config).items()}
            return load_controlnet(self.file.path, allow_pickle=self.allow_pickle,
                                   device=runtime.device, dtype=runtime.dtype, base=base)

        return ctx.models.get(key, build)


@dataclass(frozen=True, eq=False)
class ControlSpec:
    """A ControlNet applied to a conditioning (what ControlNetApply stores under "control")."""

    net: ControlNetRef
    hint: torch.Tensor  # IMAGE [B, H, W, 3] in 0..1
    strength: float
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: "ControlSpec | None" = None


@dataclass(eq=False)
class BoundControl:
    """A ControlSpec ready for one sampling run: the loaded net and the sigma range."""

    net: torch.nn.Module
    family: str
    hint: torch.Tensor
    strength: float
    sigma_start: float
    sigma_end: float
    dtype: torch.dtype
    previous: "BoundControl | None"

    @classmethod
    def bind(cls, spec: ControlSpec, ctx, runtime, schedule, arch: str) -> "BoundControl":
        net, family = spec.net.load(ctx, runtime)
        if family != arch.split("-")[0]:
            from nodeflow import NodeError

            raise NodeError(f"a {family} ControlNet cannot guide a {arch} model")
        previous = None if spec.previous is None else cls.bind(spec.previous, ctx, runtime,
                                                               schedule, arch)
        return cls(net, family, spec.hint, spec.strength,
                   schedule.percent_to_sigma(spec.start_percent),
                   schedule.percent_to_sigma(spec.end_percent), runtime.dtype, previous)

    def residuals(self, x_in, timestep, sigma: float, kwargs: dict):
        """(down residuals, mid residual) for the scaled UNet input ``x_in``, or None when no
        ControlNet in the stack is active at ``sigma``."""
        from .image_ops import repeat_to_batch, upscale

        mine = None
        if self.sigma_end <= sigma <= self.sigma_start:
            height, width = x_in.shape[-2:]
            hint = upscale(self.hint.movedim(-1, 1).float(), width * 8, height * 8,
                           "nearest-exact", "center")
            hint = repeat_to_batch(hint, x_in.shape[0]).to(x_in.device, self.dtype)
            extra = {}
            if "added_cond_kwargs" in kwargs:
                extra["added_cond_kwargs"] = {k: v.to(self.dtype) for k, v in
                                              kwargs["added_cond_kwargs"].items()}
            down, mid = self.net(x_in.to(self.dtype), timestep,
                                 encoder_hidden_states=kwargs["encoder_hidden_states"].to(self.dtype),
                                 controlnet_cond=hint, conditioning_scale=self.strength,
                                 return_dict=False, **extra)
            mine = (list(down), mid)
        before = None if self.previous is None else self.previous.residuals(
            x_in, timestep, sigma, kwargs)
        if mine is None or before is None:
            return mine or before
        return [a + b for a, b in zip(mine[0], before[0])], mine[1] + before[1]
