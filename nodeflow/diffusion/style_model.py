"""T2I-Adapter style models (TencentARC's t2iadapter_style, Mou et al. 2023), as ComfyUI's
StyleModelLoader / StyleModelApply use them.

The model reads a picture's CLIP vision tokens (ViT-L/14's last hidden state, 257 x 1024) plus
a few learned style tokens through a small transformer and projects the style tokens to the
text encoder's width; they are appended to the prompt's tokens, so cross-attention sees the
picture's style as extra words. The file holds ``style_embedding`` [1, tokens, width],
``proj`` [width, context], ``ln_pre``/``ln_post`` and ``transformer_layes.N`` blocks (CLIP's
residual attention blocks, torch's MultiheadAttention layout); the sizes are read off the
tensors, the head count is ComfyUI's (8). Flux's Redux files (``redux_down``) are recognised
and refused: nodeflow runs no Flux models.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint_errors import CheckpointError

HEADS = 8  # ComfyUI builds every style adapter with 8 heads


class _QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class _Block(nn.Module):
    """CLIP's pre-norm residual attention block, sequence-first."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", _QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class StyleAdapter(nn.Module):
    def __init__(self, width: int, context_dim: int, layers: int, tokens: int, heads: int = HEADS):
        super().__init__()
        self.transformer_layes = nn.Sequential(*[_Block(width, heads) for _ in range(layers)])
        self.style_embedding = nn.Parameter(torch.zeros(1, tokens, width))
        self.ln_pre = nn.LayerNorm(width)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, context_dim))

    @property
    def width(self) -> int:
        return int(self.proj.shape[0])

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """CLIP vision tokens [B, L, width] -> style tokens [B, tokens, context_dim]."""
        tokens = self.style_embedding.shape[1]
        style = self.style_embedding.expand(hidden.shape[0], -1, -1)
        x = self.ln_pre(torch.cat([hidden, style], dim=1))
        x = self.transformer_layes(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, -tokens:, :]) @ self.proj


def style_config(sd) -> dict:
    """StyleAdapter's sizes read off a state dict."""
    if "redux_down.weight" in sd:
        raise CheckpointError("a Flux Redux style model: nodeflow runs no Flux models")
    if "style_embedding" not in sd or "proj" not in sd:
        raise CheckpointError("not a style model (no style_embedding / proj: T2I-Adapter "
                              "style models such as t2iadapter_style are supported)")
    layers = {int(m[1]) for k in sd if (m := re.match(r"transformer_layes\.(\d+)\.", k))}
    embedding = sd["style_embedding"]
    return {"width": int(embedding.shape[-1]), "tokens": int(embedding.shape[1]),
            "context_dim": int(sd["proj"].shape[1]), "layers": len(layers)}


def load_style_model(path: Path, *, allow_pickle: bool = False, device="cpu",
                     dtype: torch.dtype = torch.float32) -> StyleAdapter:
    from .checkpoint_files import read_state_dict

    sd = dict(read_state_dict(path, allow_pickle=allow_pickle))
    try:
        config = style_config(sd)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    model = StyleAdapter(**config)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: not a T2I-Adapter style model (missing "
                              f"{', '.join(missing[:3]) or 'nothing'}; unexpected "
                              f"{', '.join(unexpected[:3]) or 'nothing'})")
    return model.to(device=device, dtype=dtype).eval()


def picture_tokens(model: StyleAdapter, clip_vision_output) -> torch.Tensor:
    """Each picture's style tokens: [pictures, tokens, dim] (ComfyUI's ``get_cond``)."""
    hidden = clip_vision_output.last_hidden_state
    parameter = next(model.parameters())
    with torch.no_grad():
        out = model(hidden.to(parameter.device, parameter.dtype))
    return out.float().cpu()


def style_tokens(model: StyleAdapter, clip_vision_output) -> torch.Tensor:
    """The style tokens of every picture, one after the other: [1, pictures x tokens, dim]."""
    return picture_tokens(model, clip_vision_output).flatten(0, 1).unsqueeze(0)


@dataclass(frozen=True)
class StyleModelRef:
    """The STYLE_MODEL socket: a file, loaded once per device and precision."""

    file: Any  # refs.FileIdentity
    allow_pickle: bool = False

    def load(self, ctx, runtime) -> StyleAdapter:
        # loaded at the compute dtype whatever the storage: the key names only that
        key = ("style_model", self.file, runtime.device, str(runtime.dtype))
        return ctx.models.get(key, lambda: load_style_model(
            self.file.path, allow_pickle=self.allow_pickle, device=runtime.device,
            dtype=runtime.dtype))
