"""A random-weight T2I-Adapter style model in TencentARC's key layout (t2iadapter_style),
sized for the tiny CLIP vision tower and text encoders of the tests."""
from __future__ import annotations

import torch

WIDTH, CONTEXT, TOKENS, LAYERS, HEADS = 64, 32, 4, 2, 8


def style_state_dict(seed: int = 0, context: int = CONTEXT) -> dict[str, torch.Tensor]:
    """TencentARC's t2iadapter_style layout, random weights; ``context``: the text width."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.2  # noqa: E731
    sd = {"style_embedding": r(1, TOKENS, WIDTH), "proj": r(WIDTH, context),
          "ln_pre.weight": 1 + r(WIDTH), "ln_pre.bias": r(WIDTH),
          "ln_post.weight": 1 + r(WIDTH), "ln_post.bias": r(WIDTH)}
    for i in range(LAYERS):
        p = f"transformer_layes.{i}."
        sd.update({p + "attn.in_proj_weight": r(3 * WIDTH, WIDTH),
                   p + "attn.in_proj_bias": r(3 * WIDTH),
                   p + "attn.out_proj.weight": r(WIDTH, WIDTH), p + "attn.out_proj.bias": r(WIDTH),
                   p + "ln_1.weight": 1 + r(WIDTH), p + "ln_1.bias": r(WIDTH),
                   p + "ln_2.weight": 1 + r(WIDTH), p + "ln_2.bias": r(WIDTH),
                   p + "mlp.c_fc.weight": r(4 * WIDTH, WIDTH), p + "mlp.c_fc.bias": r(4 * WIDTH),
                   p + "mlp.c_proj.weight": r(WIDTH, 4 * WIDTH), p + "mlp.c_proj.bias": r(WIDTH)})
    return sd
