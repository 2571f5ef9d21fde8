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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import checkpoint_keys as keys
from .checkpoint_build import fill, read_config
from .placement import place
from .checkpoint_errors import CheckpointError
from .checkpoint_files import read_component_folder, read_state_dict
from .checkpoints import CONFIG_ROOT
from .t2i_adapter import is_t2i_adapter, load_t2i_adapter

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
    if is_t2i_adapter(sd):
        return "t2i", ""
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
                    dtype: torch.dtype = torch.float32, configs=None, base=None,
                    storage: torch.dtype | None = None):
    """(ControlNetModel or T2IAdapter in eval mode, family "sd1" | "sd2" | "sdxl"). A file with a
    ``difference`` marker holds differences from a base UNet: ``base`` (original-layout UNet
    tensors under the control_model. prefix) is added back, as ComfyUI does. ``storage``: a
    ControlNet's weights as load_checkpoint stores a UNet's."""
    path = Path(path)
    if path.is_dir():
        from diffusers import ControlNetModel

        config = read_config(path)
        if config.get("_class_name") == "T2IAdapter":
            return load_t2i_adapter(read_component_folder(path, allow_pickle=allow_pickle), path,
                                    device, dtype)
        with torch.device("meta"):
            net = ControlNetModel.from_config(config)
        sd = read_component_folder(path, allow_pickle=allow_pickle)
        fill(net, sd, {k: k for k in net.state_dict()}, set(), path, "ControlNet", device, dtype,
             storage=storage)
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
        if layout == "t2i":
            return load_t2i_adapter(sd, path, device, dtype)
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
    fill(net, sd, names, set(), path, "ControlNet", device, dtype, storage=storage)
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
        key = ("controlnet", self.file, self.base, runtime.device, runtime.weights)

        def build():
            base = None
            if self.base is not None:
                unet, _ = self.base.load(ctx, runtime)
                base = {"control_model." + o: unet.state_dict()[k] for k, o in
                        keys.unet_key_map(unet.state_dict(), unet.config).items()}
            return load_controlnet(self.file.path, allow_pickle=self.allow_pickle,
                                   device=runtime.load_device, dtype=runtime.dtype, base=base,
                                   storage=runtime.storage)

        return ctx.models.get(key, build)


@dataclass(frozen=True, eq=False)
class ControlSpec:
    """A ControlNet applied to a conditioning (what ControlNetApply stores under "control");
    ``vae`` (a VAE reference) encodes the hint for ControlNets that take a latent."""

    net: ControlNetRef
    hint: torch.Tensor  # IMAGE [B, H, W, 3] in 0..1
    strength: float
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: "ControlSpec | None" = None
    vae: Any = None


def _is_adapter(net) -> bool:
    return type(net).__name__ == "T2IAdapter"


def _sum(a: dict | None, b: dict | None) -> dict | None:
    """Two stacked controls' UNet arguments, added up."""
    if a is None or b is None:
        return a or b
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, list):
            out[key] = [x + y for x, y in zip(out[key], value)]
        else:
            out[key] = out[key] + value
    return out


@dataclass(eq=False)
class BoundControl:
    """A ControlSpec ready for one sampling run: the loaded net (a ControlNet or a
    T2I-Adapter), the sigma range, and for a latent hint the VAE and the model's latent scale."""

    net: torch.nn.Module
    family: str
    hint: torch.Tensor
    strength: float
    sigma_start: float
    sigma_end: float
    dtype: torch.dtype
    previous: "BoundControl | None"
    vae: Any = None
    latent_scale: float = 1.0
    _prepared: dict = field(default_factory=dict)

    @classmethod
    def bind(cls, spec: ControlSpec, ctx, runtime, schedule, arch: str,
             latent_scale: float = 1.0) -> "BoundControl":
        from nodeflow import NodeError

        net, family = spec.net.load(ctx, runtime)
        place(ctx, net, f"the ControlNet {Path(spec.net.file.path).name}")
        model_family = arch.split("-")[0]
        fits = family == model_family or (_is_adapter(net) and family == "sd1"
                                         and model_family == "sd2")  # same shapes, as ComfyUI
        if not fits:
            kind = "T2I-Adapter" if _is_adapter(net) else "ControlNet"
            raise NodeError(f"a {family} {kind} cannot guide a {arch} model")
        vae = None
        if not _is_adapter(net) and takes_latent_hint(net):
            if spec.vae is None:
                raise NodeError("this ControlNet takes its hint as a latent and needs a VAE: "
                                "connect the vae input of Apply ControlNet")
            vae = spec.vae.load(ctx, runtime)
        previous = None if spec.previous is None else cls.bind(spec.previous, ctx, runtime,
                                                               schedule, arch, latent_scale)
        return cls(net, family, spec.hint, spec.strength,
                   schedule.percent_to_sigma(spec.start_percent),
                   schedule.percent_to_sigma(spec.end_percent), runtime.dtype, previous,
                   vae, latent_scale)

    def _hint(self, x_in) -> torch.Tensor:
        """The hint at the net's resolution for this latent window: pixels in 0..1, or the
        VAE's latent (scaled as the model's) for a latent-hint ControlNet."""
        from .image_ops import repeat_to_batch, upscale

        height, width = x_in.shape[-2:]
        key = ("hint", height, width)
        if key not in self._prepared:
            if self.vae is not None:
                from .vae_ops import downscale_factor, encode

                factor = downscale_factor(self.vae)
                pixels = upscale(self.hint.movedim(-1, 1).float(), width * factor,
                                 height * factor, "nearest-exact", "center")
                hint = encode(self.vae, pixels.movedim(1, -1)) * self.latent_scale
            else:
                factor = hint_factor(self.net)
                hint = upscale(self.hint.movedim(-1, 1).float(), width * factor,
                               height * factor, "nearest-exact", "center")
            self._prepared[key] = hint
        hint = self._prepared[key]
        return repeat_to_batch(hint, x_in.shape[0]).to(x_in.device, self.dtype)

    def _adapter_features(self, x_in) -> list[torch.Tensor]:
        """The T2I-Adapter's features x strength, computed once per latent size and batch."""
        from .image_ops import repeat_to_batch
        from .t2i_adapter import features

        key = ("features", tuple(x_in.shape))
        if key not in self._prepared:
            height, width = x_in.shape[-2:]
            maps = features(self.net, self.hint, height, width, self.dtype)
            self._prepared[key] = [repeat_to_batch(f, x_in.shape[0]) * self.strength
                                   for f in maps]
        return [f.to(x_in.device) for f in self._prepared[key]]

    def unet_kwargs(self, x_in, timestep, sigma: float, kwargs: dict) -> dict | None:
        """The UNet arguments of every control in the stack active at ``sigma``, added up:
        ControlNets' down and mid residuals, T2I-Adapters' intrablock features (the UNet
        consumes that list, so it is a new one each call); None when none is active."""
        mine = None
        if self.sigma_end <= sigma <= self.sigma_start:
            if _is_adapter(self.net):
                mine = {"down_intrablock_additional_residuals": self._adapter_features(x_in)}
            else:
                extra = {}
                if "added_cond_kwargs" in kwargs:
                    extra["added_cond_kwargs"] = {k: v.to(self.dtype) for k, v in
                                                  kwargs["added_cond_kwargs"].items()}
                states = kwargs["encoder_hidden_states"].to(self.dtype)
                down, mid = self.net(x_in.to(self.dtype), timestep, encoder_hidden_states=states,
                                     controlnet_cond=self._hint(x_in),
                                     conditioning_scale=self.strength, return_dict=False, **extra)
                mine = {"down_block_additional_residuals": list(down),
                        "mid_block_additional_residual": mid}
        before = None if self.previous is None else self.previous.unet_kwargs(
            x_in, timestep, sigma, kwargs)
        return _sum(mine, before)
