import torch
import comfy.model_management as mm
from comfy.utils import ProgressBar


class ShapeColorMatch:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"image_ref": ("IMAGE",), "image_target": ("IMAGE",),
                             "strength": ("FLOAT", {"default": 1.0, "min": 0, "max": 1})}}

    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "match"
    CATEGORY = "shape/image"

    def match(self, image_ref, image_target, strength):
        device = mm.get_torch_device()
        ref, target = image_ref.to(device), image_target.to(device)
        mean_r, std_r = ref.mean((1, 2), keepdim=True), ref.std((1, 2), keepdim=True)
        mean_t, std_t = target.mean((1, 2), keepdim=True), target.std((1, 2), keepdim=True)
        matched = (target - mean_t) / (std_t + 1e-6) * std_r + mean_r
        out = target + (matched - target) * strength
        return (out.clamp(0, 1).to(mm.intermediate_device()),)


class ShapeGrowMaskBlur:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"mask": ("MASK",),
                             "expand": ("INT", {"default": 2, "min": -16, "max": 16})}}

    RETURN_TYPES = ("MASK", "MASK")
    RETURN_NAMES = ("mask", "mask_inverted")
    FUNCTION = "expand_mask"
    CATEGORY = "shape/mask"

    def expand_mask(self, mask, expand):
        pbar = ProgressBar(mask.shape[0])
        out = []
        for item in mask:
            grown = item[None, None]
            for _ in range(abs(expand)):
                pooled = torch.nn.functional.max_pool2d(grown if expand > 0 else -grown, 3,
                                                        stride=1, padding=1)
                grown = pooled if expand > 0 else -pooled
            out.append(grown[0, 0])
            pbar.update(1)
        result = torch.stack(out)
        return (result, 1.0 - result)


class ShapeImageConcat:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"image1": ("IMAGE",), "image2": ("IMAGE",),
                             "direction": (["right", "down"], {"default": "right"})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "concat"
    CATEGORY = "shape/image"

    def concat(self, image1, image2, direction):
        return (torch.cat([image1, image2], dim=2 if direction == "right" else 1),)


IMAGE_NODES = {
    "ColorMatch (shape)": {"class": ShapeColorMatch, "name": "Color Match"},
    "GrowMaskWithBlur (shape)": {"class": ShapeGrowMaskBlur, "name": "Grow Mask With Blur"},
    "ImageConcanate (shape)": {"class": ShapeImageConcat, "name": "Image Concatenate"},
}
