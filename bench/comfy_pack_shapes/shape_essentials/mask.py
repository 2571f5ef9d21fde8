import torch
import torch.nn.functional as F


class ShapeMaskBlur:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"mask": ("MASK",),
                             "amount": ("INT", {"default": 3, "min": 0, "max": 64})}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "run"
    CATEGORY = "shape/mask"

    def run(self, mask, amount):
        if amount == 0:
            return (mask,)
        size = amount * 2 + 1
        kernel = torch.ones(1, 1, size, size) / (size * size)
        out = F.conv2d(mask.unsqueeze(1), kernel, padding=amount)
        return (out.squeeze(1),)


class ShapeMaskFromColor:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"image": ("IMAGE",),
                             "red": ("INT", {"default": 255, "min": 0, "max": 255}),
                             "threshold": ("FLOAT", {"default": 0.1, "min": 0, "max": 1})}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "run"
    CATEGORY = "shape/mask"

    def run(self, image, red, threshold):
        return ((image[..., 0] - red / 255).abs() < threshold).float(),


class ShapeMaskPreview:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"mask": ("MASK",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "shape/mask"

    def run(self, mask):
        return (mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1)
                .expand(-1, -1, -1, 3),)


MASK_CLASS_MAPPINGS = {"MaskBlur+ (shape)": ShapeMaskBlur,
                       "MaskFromColor+ (shape)": ShapeMaskFromColor,
                       "MaskPreview+ (shape)": ShapeMaskPreview}
MASK_NAME_MAPPINGS = {"MaskBlur+ (shape)": "🔧 Mask Blur"}
