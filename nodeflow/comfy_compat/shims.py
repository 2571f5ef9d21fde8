"""The ComfyUI modules packs import, built on nodeflow: ``folder_paths``, ``comfy.utils``,
``comfy.model_management``, ``comfy.cli_args``, ``comfy.comfy_types``, ``node_helpers``,
``server``, ``nodes``, ``comfy_api.latest``, ``comfy_execution.graph``/``graph_utils``. Installed into ``sys.modules`` the first time a
ComfyUI pack loads; nodeflow's own code never imports these names. ``nodes`` is a package
whose path is nodeflow's own node folder, so ``nodes.sd`` keeps importing.
"""
from __future__ import annotations

import argparse
import sys
import types
from typing import Any

from ..flow import ExecutionBlocker
from ..paths import shipped_dir
from ..settings import Settings
from . import runtime
from .folders import make_folder_paths
from .missing import MissingFinder, missing_module, partial_module

_FINDER = MissingFinder()


def install(settings: Settings) -> None:
    """Put the shims in ``sys.modules`` (again: ``folder_paths`` follows ``settings``)."""
    sys.modules["folder_paths"] = make_folder_paths(settings)
    if getattr(sys.modules.get("comfy"), "__nodeflow_shim__", False):
        return
    from . import api, comfy_types, core_nodes, graph_utils

    comfy = missing_module("comfy")
    comfy.__path__ = []
    mods = {"comfy": comfy, "comfy.utils": _utils(), "comfy.model_management": _mm(),
            "comfy.cli_args": _cli_args(), "server": _server(),
            "comfy_execution": missing_module("comfy_execution"),
            "comfy_execution.graph": _graph(), "comfy_execution.graph_utils": graph_utils.module(),
            "comfy_api": missing_module("comfy_api"),
            "comfy_api.latest": api.module(), "nodes": core_nodes.module(),
            "comfy.comfy_types": comfy_types.comfy_types_module(),
            "node_helpers": comfy_types.node_helpers_module()}
    mods["comfy.comfy_types.node_typing"] = mods["comfy.comfy_types"]
    mods["comfy_api.latest._io"] = mods["comfy_api.latest"].io
    mods["comfy_api.latest.io"] = mods["comfy_api.latest"].io
    mods["comfy_api.latest.ui"] = mods["comfy_api.latest"].ui
    mods["nodes"].__path__ = [str(shipped_dir("nodes"))]
    for name, mod in mods.items():
        sys.modules[name] = mod
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(mods[parent], child, mod)
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)


def uninstall() -> None:
    """Take the shims (and modules of ComfyUI packs) out of ``sys.modules`` again, for a
    process that goes on without ComfyUI packs (a test session)."""
    for name in list(sys.modules):
        module = sys.modules[name]
        if getattr(module, "__nodeflow_shim__", False) or name.startswith("nodeflow_comfy_"):
            del sys.modules[name]
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


class ProgressBar:
    """``comfy.utils.ProgressBar``: reports to the running node's progress (and checks the
    interrupt), as ComfyUI's does."""

    def __init__(self, total: int, node_id: str | None = None):
        self.total = int(total)
        self.current = 0
        self._ctx = runtime.current_ctx()

    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        if total is not None:
            self.total = int(total)
        self.current = min(int(value), self.total)
        if self._ctx is not None:
            image = preview[1] if isinstance(preview, tuple) and len(preview) > 1 else None
            self._ctx.progress(self.current, self.total, image)

    def update(self, value: int) -> None:
        self.update_absolute(self.current + int(value))


def common_upscale(samples, width: int, height: int, upscale_method: str, crop: str):
    """Resize [B,C,H,W] to (height, width), optionally centre-cropping to the new aspect
    first, with ComfyUI's method names."""
    import torch
    import torch.nn.functional as F

    if crop == "center":
        from ..diffusion.image_ops import center_crop_to_aspect

        samples = center_crop_to_aspect(samples, width, height)
    if upscale_method == "lanczos":
        return _lanczos(samples, width, height)
    if upscale_method == "bislerp":
        upscale_method = "bilinear"
    mode = {"nearest-exact": "nearest-exact", "nearest": "nearest", "bilinear": "bilinear",
            "area": "area", "bicubic": "bicubic"}.get(upscale_method)
    if mode is None:
        raise ValueError(f"common_upscale: unknown method {upscale_method!r}")
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    out = F.interpolate(samples.float(), size=(height, width), mode=mode, **kwargs)
    return out.to(samples.dtype) if torch.is_floating_point(samples) else out


def _lanczos(samples, width: int, height: int):
    import numpy as np
    import torch
    from PIL import Image

    batch = samples.detach().float().cpu().numpy()
    out = np.empty((*batch.shape[:2], height, width), dtype=np.float32)
    for b in range(batch.shape[0]):
        for c in range(batch.shape[1]):
            channel = Image.fromarray(batch[b, c], mode="F")
            out[b, c] = np.asarray(channel.resize((width, height), Image.LANCZOS))
    return torch.from_numpy(out).to(samples.device, samples.dtype)


def load_torch_file(path: str, safe_load: bool = True, device: Any = None,
                    return_metadata: bool = False):
    import torch

    if str(path).lower().endswith((".safetensors", ".sft")):
        from safetensors.torch import load_file, safe_open

        state = load_file(path, device=str(device or "cpu"))
        if return_metadata:
            with safe_open(path, framework="pt") as f:
                return state, f.metadata()
        return state
    state = torch.load(path, map_location=device or "cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return (state, None) if return_metadata else state


def save_torch_file(state: dict, path: str, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    save_file(state, path, metadata=metadata)


def _utils() -> types.ModuleType:
    mod = partial_module("comfy.utils", "nodeflow's comfy.utils: ProgressBar, common_upscale, "
                                        "load_torch_file, save_torch_file")
    mod.ProgressBar = ProgressBar
    mod.common_upscale = common_upscale
    mod.load_torch_file = load_torch_file
    mod.save_torch_file = save_torch_file
    mod.PROGRESS_BAR_ENABLED = True
    mod.set_progress_bar_enabled = lambda enabled: None
    mod.MAX_RESOLUTION = 16384
    return mod


class InterruptProcessingException(Exception):
    pass


def _mm() -> types.ModuleType:
    mod = partial_module("comfy.model_management",
                         "nodeflow's comfy.model_management: devices, interrupt, memory helpers")

    def get_torch_device():
        import torch

        ctx = runtime.current_ctx()
        if ctx is not None:
            return torch.device(ctx.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def throw_exception_if_processing_interrupted() -> None:
        ctx = runtime.current_ctx()
        if ctx is not None:
            ctx.check_interrupt()

    def processing_interrupted() -> bool:
        ctx = runtime.current_ctx()
        return bool(ctx is not None and ctx._interrupt.is_set())

    def get_free_memory(dev: Any = None, torch_free_too: bool = False):
        import psutil
        import torch

        dev = dev or get_torch_device()
        if getattr(dev, "type", "cpu") == "cuda":
            free = torch.cuda.mem_get_info(dev)[0]
            return (free, free) if torch_free_too else free
        free = psutil.virtual_memory().available
        return (free, free) if torch_free_too else free

    def soft_empty_cache(force: bool = False) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def cpu() -> Any:
        import torch
        return torch.device("cpu")

    def dtype_for(*args: Any, **kwargs: Any):
        import torch
        return torch.float32

    mod.get_torch_device = get_torch_device
    mod.intermediate_device = cpu
    mod.unet_offload_device = cpu
    mod.text_encoder_offload_device = cpu
    mod.vae_offload_device = cpu
    mod.text_encoder_device = get_torch_device
    mod.vae_device = get_torch_device
    mod.unet_dtype = mod.vae_dtype = mod.text_encoder_dtype = dtype_for
    mod.is_device_mps = lambda dev=None: getattr(dev, "type", None) == "mps"
    mod.is_device_cpu = lambda dev=None: getattr(dev, "type", None) == "cpu"
    mod.is_device_cuda = lambda dev=None: getattr(dev, "type", None) == "cuda"
    mod.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
    mod.processing_interrupted = processing_interrupted
    mod.interrupt_current_processing = lambda value=True: None
    mod.get_free_memory = get_free_memory
    mod.soft_empty_cache = soft_empty_cache
    mod.InterruptProcessingException = InterruptProcessingException
    mod.OOM_EXCEPTION = MemoryError
    mod.XFORMERS_IS_AVAILABLE = False
    mod.cpu_mode = lambda: False
    mod.mps_mode = lambda: False
    return mod


class _Args(argparse.Namespace):
    """``comfy.cli_args.args``: ComfyUI's flags at their defaults; unknown ones are None."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def _cli_args() -> types.ModuleType:
    import enum

    mod = partial_module("comfy.cli_args", "ComfyUI's command-line flags, at their defaults")

    class LatentPreviewMethod(enum.Enum):
        NoPreviews = "none"
        Auto = "auto"
        Latent2RGB = "latent2rgb"
        TAESD = "taesd"

    mod.LatentPreviewMethod = LatentPreviewMethod
    mod.args = _Args(cpu=False, lowvram=False, highvram=False, normalvram=False, novram=False,
                     disable_metadata=False, preview_method=LatentPreviewMethod.NoPreviews,
                     listen="127.0.0.1", port=8188, output_directory=None,
                     input_directory=None, temp_directory=None, verbose="INFO",
                     disable_smart_memory=False, force_fp16=False, force_fp32=False)
    return mod


def _server() -> types.ModuleType:
    from .prompt_server import PromptServer

    mod = partial_module("server", "nodeflow's server.PromptServer for ComfyUI packs")
    PromptServer.instance = PromptServer()
    mod.PromptServer = PromptServer
    mod.BinaryEventTypes = types.SimpleNamespace(
        PREVIEW_IMAGE=runtime.PREVIEW_IMAGE, UNENCODED_PREVIEW_IMAGE=runtime.UNENCODED_PREVIEW_IMAGE)
    return mod


def _graph() -> types.ModuleType:
    mod = partial_module("comfy_execution.graph", "ExecutionBlocker (nodeflow's own)")
    mod.ExecutionBlocker = ExecutionBlocker
    return mod
