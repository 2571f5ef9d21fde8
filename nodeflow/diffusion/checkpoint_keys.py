"""Key names of the original (LDM / "model.diffusion_model.*") layout versus diffusers' layout.

Model sites ship single-file checkpoints in the layout of the original Stable Diffusion code
(CompVis/Stability "ldm" and "sgm" repositories); diffusers and transformers name the same
tensors differently. The mapping here is built from a component's diffusers config, so it
holds for any block count (the tiny test models as well as the full-size ones), and it runs
both ways: loading reads it from original to diffusers, writing a single file the other way.

Layouts, per component:
- UNet: `input_blocks.N.M` / `middle_block.M` / `output_blocks.N.M` numbered flat, versus
  diffusers' `down_blocks.i.{resnets,attentions,downsamplers}.j` nesting; resnet sub-layers
  are `in_layers.0/2`, `emb_layers.1`, `out_layers.0/3`, `skip_connection`.
- VAE: `encoder.down.i.block.j`, `decoder.up.i.block.j` where the decoder's `up` list is stored
  in reverse order of diffusers' `up_blocks`; the mid attention uses 1x1 convolutions
  (`q,k,v,proj_out`) where diffusers uses linear layers.
- CLIP-L (SD1, SDXL's first encoder) is a transformers CLIPTextModel already.
- OpenCLIP (SD2's ViT-H, SDXL's ViT-bigG text towers): `transformer.resblocks.i` with a fused
  `attn.in_proj_weight` (q, k, v stacked) and `text_projection` stored transposed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
# Text encoder prefixes per architecture, in the order of LoadedCheckpoint.text_encoders.
TEXT_PREFIXES = {
    "sd1": ("cond_stage_model.transformer.",),
    "sd2": ("cond_stage_model.model.",),
    "sdxl": ("conditioner.embedders.0.transformer.", "conditioner.embedders.1.model."),
}

_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_RESNET = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}

Pair = tuple[str, str, Mapping[str, str]]  # diffusers module, original module, inner renames


def _unet_pairs(config: Mapping) -> list[Pair]:
    """Module correspondences of UNet2DConditionModel and the LDM UNetModel for one config."""
    layers = config["layers_per_block"]
    if not isinstance(layers, int):
        raise ValueError("per-block layers_per_block lists are not part of SD1/SD2/SDXL UNets")
    n = len(config["block_out_channels"])
    pairs: list[Pair] = [
        ("time_embedding.linear_1", "time_embed.0", {}), ("time_embedding.linear_2", "time_embed.2", {}),
        ("conv_in", "input_blocks.0.0", {}), ("conv_norm_out", "out.0", {}), ("conv_out", "out.2", {}),
        ("mid_block.resnets.0", "middle_block.0", _UNET_RESNET),
        ("mid_block.attentions.0", "middle_block.1", {}),
        ("mid_block.resnets.1", "middle_block.2", _UNET_RESNET),
    ]
    if config.get("addition_embed_type") == "text_time":  # SDXL's size/crop/pooled-text embedding
        pairs += [("add_embedding.linear_1", "label_emb.0.0", {}), ("add_embedding.linear_2", "label_emb.0.2", {})]
    if config.get("class_embed_type") == "projection":  # SD 2.1 unCLIP's image-embedding input
        pairs += [("class_embedding.linear_1", "label_emb.0.0", {}), ("class_embedding.linear_2", "label_emb.0.2", {})]
    for i, kind in enumerate(config["down_block_types"]):
        for j in range(layers):
            block = 1 + i * (layers + 1) + j
            pairs.append((f"down_blocks.{i}.resnets.{j}", f"input_blocks.{block}.0", _UNET_RESNET))
            if kind.startswith("CrossAttn"):
                pairs.append((f"down_blocks.{i}.attentions.{j}", f"input_blocks.{block}.1", {}))
        if i < n - 1:
            last = 1 + i * (layers + 1) + layers
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{last}.0.op", {}))
    for i, kind in enumerate(config["up_block_types"]):
        attn = kind.startswith("CrossAttn")
        for j in range(layers + 1):
            block = i * (layers + 1) + j
            pairs.append((f"up_blocks.{i}.resnets.{j}", f"output_blocks.{block}.0", _UNET_RESNET))
            if attn:
                pairs.append((f"up_blocks.{i}.attentions.{j}", f"output_blocks.{block}.1", {}))
        if i < n - 1:
            last = i * (layers + 1) + layers
            pairs.append((f"up_blocks.{i}.upsamplers.0.conv", f"output_blocks.{last}.{2 if attn else 1}.conv", {}))
    return pairs


def _vae_pairs(config: Mapping) -> list[Pair]:
    """Module correspondences of AutoencoderKL and the LDM AutoencoderKL for one config."""
    n = len(config["block_out_channels"])
    layers = config["layers_per_block"]
    pairs: list[Pair] = [("quant_conv", "quant_conv", {}), ("post_quant_conv", "post_quant_conv", {})]
    for part in ("encoder", "decoder"):
        pairs += [(f"{part}.conv_in", f"{part}.conv_in", {}), (f"{part}.conv_out", f"{part}.conv_out", {}),
                  (f"{part}.conv_norm_out", f"{part}.norm_out", {}),
                  (f"{part}.mid_block.resnets.0", f"{part}.mid.block_1", _VAE_RESNET),
                  (f"{part}.mid_block.resnets.1", f"{part}.mid.block_2", _VAE_RESNET),
                  (f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1", _VAE_ATTN)]
    for i in range(n):
        for j in range(layers):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}", _VAE_RESNET))
        if i < n - 1:
            pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.conv", f"encoder.down.{i}.downsample.conv", {}))
        up = n - 1 - i  # the original decoder stores its up blocks from the lowest resolution up
        for j in range(layers + 1):
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{up}.block.{j}", _VAE_RESNET))
        if i < n - 1:
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.conv", f"decoder.up.{up}.upsample.conv", {}))
    return pairs


def _rename(keys: Iterable[str], pairs: list[Pair]) -> dict[str, str]:
    by_module = {d: (o, inner) for d, o, inner in pairs}
    out = {}
    for key in keys:
        parts = key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if module in by_module:
                original, inner = by_module[module]
                rest = ".".join(parts[cut:])
                for old, new in inner.items():
                    if rest == old or rest.startswith(old + "."):
                        rest = new + rest[len(old):]
                        break
                out[key] = f"{original}.{rest}"
                break
        else:
            raise KeyError(f"no original-layout name known for diffusers key {key!r}")
    return out


def unet_key_map(diffusers_keys: Iterable[str], config: Mapping) -> dict[str, str]:
    """Diffusers UNet key -> original key (without the "model.diffusion_model." prefix)."""
    return _rename(diffusers_keys, _unet_pairs(config))


def vae_key_map(diffusers_keys: Iterable[str], config: Mapping) -> dict[str, str]:
    """Diffusers VAE key -> original key (without the "first_stage_model." prefix)."""
    return _rename(diffusers_keys, _vae_pairs(config))


def clip_core(key: str) -> str:
    """A transformers CLIP text key without the optional "text_model." level.

    transformers 5's CLIPTextModel has no `text_model` level while CLIPTextModelWithProjection
    and every checkpoint do, so keys are compared in this stripped form.
    """
    return key[len("text_model."):] if key.startswith("text_model.") else key


_OPENCLIP_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
                   "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
_OPENCLIP_TOP = {"token_embedding.weight": "embeddings.token_embedding.weight",
                 "positional_embedding": "embeddings.position_embedding.weight",
                 "ln_final.weight": "final_layer_norm.weight", "ln_final.bias": "final_layer_norm.bias"}


def openclip_to_hf(get: Callable[[str], torch.Tensor], num_layers: int,
                   with_projection: bool) -> dict[str, torch.Tensor]:
    """An OpenCLIP text tower as CLIPTextModel tensors, keyed by `clip_core` names.

    `get(name)` returns the OpenCLIP tensor of that name (it raises KeyError when missing).
    Only the first `num_layers` blocks are read: SD2 conditions on the penultimate block, so its
    diffusers text encoder has 23 of OpenCLIP-H's 24 blocks.
    """
    out = {hf: get(oc) for oc, hf in _OPENCLIP_TOP.items()}
    for i in range(num_layers):
        src, dst = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        for oc, hf in _OPENCLIP_LAYER.items():
            for p in ("weight", "bias"):
                out[f"{dst}{hf}.{p}"] = get(f"{src}{oc}.{p}")
        for p in ("weight", "bias"):
            for name, part in zip("qkv", get(f"{src}attn.in_proj_{p}").chunk(3, dim=0), strict=True):
                out[f"{dst}self_attn.{name}_proj.{p}"] = part
    if with_projection:
        out["text_projection.weight"] = get("text_projection").t().contiguous()
    return out


def hf_to_openclip(hf: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of `openclip_to_hf`: CLIPTextModel tensors (any key form) in OpenCLIP names."""
    core = {clip_core(k): v for k, v in hf.items() if not k.endswith("position_ids")}
    out = {oc: core[hf_key] for oc, hf_key in _OPENCLIP_TOP.items()}
    layer = 0
    while f"encoder.layers.{layer}.layer_norm1.weight" in core:
        src, dst = f"encoder.layers.{layer}.", f"transformer.resblocks.{layer}."
        for oc, hf_key in _OPENCLIP_LAYER.items():
            for p in ("weight", "bias"):
                out[f"{dst}{oc}.{p}"] = core[f"{src}{hf_key}.{p}"]
        for p in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{p}"] = torch.cat([core[f"{src}self_attn.{x}_proj.{p}"] for x in "qkv"])
        layer += 1
    if "text_projection.weight" in core:
        out["text_projection"] = core["text_projection.weight"].t().contiguous()
    return out


def vae_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """A diffusers VAE state dict in original names, mid attention weights as 1x1 convolutions."""
    names = vae_key_map(state_dict, config)
    out = {}
    for key, tensor in state_dict.items():
        if ".mid.attn_1." in names[key] and names[key].endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]
        out[names[key]] = tensor
    return out


def to_original_state_dict(arch: str, unet: torch.nn.Module, vae: torch.nn.Module,
                           text_encoders: Iterable[torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Diffusers/transformers modules as one state dict in the original single-file layout.

    `arch` is "sd1", "sd2" (also "sd2-v") or "sdxl". This is what model sites ship and what
    `load_checkpoint` reads; the tests write their tiny fixtures with it.
    """
    family = "sd2" if arch.startswith("sd2") else arch
    out = {}
    unet_sd = unet.state_dict()
    for key, name in unet_key_map(unet_sd, unet.config).items():
        out[UNET_PREFIX + name] = unet_sd[key]
    for name, tensor in vae_to_original(vae.state_dict(), vae.config).items():
        out[VAE_PREFIX + name] = tensor
    for prefix, encoder in zip(TEXT_PREFIXES[family], text_encoders, strict=True):
        sd = {k: v for k, v in encoder.state_dict().items() if not k.endswith("position_ids")}
        if prefix.endswith(".model."):
            out.update({prefix + k: v for k, v in hf_to_openclip(sd).items()})
        else:
            out.update({f"{prefix}text_model.{clip_core(k)}": v for k, v in sd.items()})
    return {k: v.contiguous() for k, v in out.items()}
