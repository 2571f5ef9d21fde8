"""Latent arithmetic a user can touch: resize, interpolate between two latents."""
from __future__ import annotations

import torch
import torch.nn.functional as F

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")


def resize(samples: torch.Tensor, height: int, width: int, method: str) -> torch.Tensor:
    """Resize latents [B, C, h, w] to (height, width) latent pixels."""
    if method == "bislerp":
        return _bislerp(samples, height, width)
    kwargs = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
    return F.interpolate(samples, size=(height, width), mode=method, **kwargs)


def _bislerp(samples: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize that slerps between neighbours, keeping each vector's norm (as noise
    statistics expect); the positions come from a bilinear grid."""
    b, c, h, w = samples.shape
    ys = torch.linspace(0, h - 1, height)
    xs = torch.linspace(0, w - 1, width)
    y0, x0 = ys.floor().long(), xs.floor().long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    ty, tx = (ys - y0)[None, None, :, None], (xs - x0)[None, None, None, :]
    top = slerp(samples[:, :, y0][..., x0], samples[:, :, y0][..., x1], tx, dim=1)
    bottom = slerp(samples[:, :, y1][..., x0], samples[:, :, y1][..., x1], tx, dim=1)
    return slerp(top, bottom, ty, dim=1)


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t, dim: int | None = None) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985) along ``dim`` (all but the batch axis if None),
    scaling the norm linearly; falls back to lerp where the two are nearly parallel."""
    dims = tuple(range(1, a.ndim)) if dim is None else (dim,)
    na = torch.linalg.vector_norm(a, dim=dims, keepdim=True).clamp_min(1e-8)
    nb = torch.linalg.vector_norm(b, dim=dims, keepdim=True).clamp_min(1e-8)
    ua, ub = a / na, b / nb
    dot = (ua * ub).sum(dim=dims, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    t = torch.as_tensor(t, dtype=a.dtype)
    safe = so.abs() > 1e-4
    wa = torch.where(safe, torch.sin((1 - t) * omega) / torch.where(safe, so, 1), 1 - t)
    wb = torch.where(safe, torch.sin(t * omega) / torch.where(safe, so, 1), t)
    direction = wa * ua + wb * ub
    return direction * lerp(na, nb, t)
