import torch
from aiohttp import web

import comfy.model_management
import comfy.samplers
import comfy.utils
import folder_paths
import nodes
from server import PromptServer


@PromptServer.instance.routes.get("/testpack/hello")
async def hello(request):
    return web.json_response({"hello": request.query.get("name", "world"),
                              "output": folder_paths.get_output_directory()})


class InvertImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",),
                             "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0,
                                                    "step": 0.05}),
                             "mode": (["invert", "keep"],)},
                "optional": {"note": ("TESTPACK_NOTE",)},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("inverted", "mask")
    FUNCTION = "run"
    CATEGORY = "test pack/image"

    def run(self, image, strength, mode, note=None, unique_id=None):
        bar = comfy.utils.ProgressBar(2)
        comfy.model_management.throw_exception_if_processing_interrupted()
        bar.update(1)
        out = image if mode == "keep" else image * (1 - strength) + (1 - image) * strength
        bar.update(1)
        PromptServer.instance.send_sync("testpack.inverted", {"node": unique_id,
                                                             "mean": float(out.mean())})
        return (out, out[..., 0])  # a [B,H,W] mask


class GreyMask:
    """Returns a [H,W] mask and a [B,H,W] 'image': shapes ComfyUI tolerates."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"width": ("INT", {"default": 8, "min": 1, "max": nodes.MAX_RESOLUTION}),
                             "height": ("INT", {"default": 6, "min": 1, "max": nodes.MAX_RESOLUTION}),
                             "value": ("FLOAT", {"default": 0.25})}}

    RETURN_TYPES = ("MASK", "IMAGE")
    FUNCTION = "make"
    CATEGORY = "test pack/image"

    def make(self, width, height, value):
        mask = torch.full((height, width), value)
        return (mask, mask[None])


class ResizeTo:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "width": ("INT", {"default": 16}),
                             "height": ("INT", {"default": 12}),
                             "method": (["lanczos", "bilinear", "nearest-exact"],)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "go"
    CATEGORY = "test pack/image"

    @classmethod
    def VALIDATE_INPUTS(cls, width, height):
        if width * height > 4096:
            return f"{width}x{height} is too large for this test node"
        return True

    def go(self, image, width, height, method):
        samples = image.movedim(-1, 1)
        return (comfy.utils.common_upscale(samples, width, height, method, "center")
                .movedim(1, -1),)


class SaveWithNote(nodes.SaveImage):
    """Subclasses ComfyUI's SaveImage, as many packs do."""

    def __init__(self):
        super().__init__()
        self.prefix_append = "_note"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",),
                             "filename_prefix": ("STRING", {"default": "pack"}),
                             "note": ("STRING", {"default": "", "multiline": True})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    FUNCTION = "save_with_note"

    def save_with_note(self, images, filename_prefix, note, prompt=None, extra_pnginfo=None):
        extra = dict(extra_pnginfo or {}, note=note)
        return self.save_images(images, filename_prefix, prompt, extra)


class SampleWithComfy:
    """Reaches into ComfyUI's sampler internals: nodeflow cannot run it."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sampler": (comfy.samplers.KSampler.SAMPLERS,)}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "go"
    CATEGORY = "test pack/deep"

    def go(self, sampler):
        raise AssertionError("never reached")


class NoiseWithComfy:
    """Loads (its declaration is plain) but calls ComfyUI's sampling internals when it runs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"latent": ("LATENT",), "seed": ("INT", {"default": 0})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "go"
    CATEGORY = "test pack/deep"

    def go(self, latent, seed):
        import comfy.sample
        noise = comfy.sample.prepare_noise(latent["samples"], seed)
        return ({"samples": latent["samples"] + noise},)


class LatentScale:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "conditioning": ("CONDITIONING",),
                             "factor": ("FLOAT", {"default": 2.0})}}

    RETURN_TYPES = ("LATENT", "CONDITIONING")
    FUNCTION = "go"
    CATEGORY = "test pack/latent"

    def go(self, samples, conditioning, factor):
        scaled = [[cond * factor, {**extra, "strength": factor}] for cond, extra in conditioning]
        return ({"samples": samples["samples"] * factor}, scaled)


class PickInputFile:
    """Lists the input folder in INPUT_TYPES, as loaders of packs list model files."""

    @classmethod
    def INPUT_TYPES(cls):
        import os
        folder = folder_paths.get_input_directory()
        files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        return {"required": {"file": (files or ["(none)"],)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "pick"
    CATEGORY = "test pack/io"

    def pick(self, file):
        return (file,)


class BrokenNode:
    @classmethod
    def INPUT_TYPES(cls):
        raise RuntimeError("this class is broken on purpose")

    RETURN_TYPES = ("INT",)
    FUNCTION = "go"


NODE_CLASS_MAPPINGS = {"Invert Image (Test)": InvertImage, "GreyMask|test": GreyMask,
                       "ResizeTo+": ResizeTo, "SaveWithNote": SaveWithNote,
                       "SampleWithComfy": SampleWithComfy, "BrokenNode": BrokenNode,
                       "NoiseWithComfy": NoiseWithComfy, "LatentScale": LatentScale,
                       "PickInputFile": PickInputFile}
NODE_DISPLAY_NAME_MAPPINGS = {"Invert Image (Test)": "🧪 Invert Image",
                              "ResizeTo+": "Resize To ➕"}
