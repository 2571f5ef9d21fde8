# A pack whose nodes call ComfyUI core classes that used to need ComfyUI itself (EmptyImage,
# LatentFlip, LatentRotate, LatentCrop, RepeatLatentBatch, ConditioningSetAreaStrength,
# StyleModelApply and a STYLE_MODEL's get_cond),
# positionally, as packs call them (for nodeflow's tests).
import nodes


class CheckerLatent:
    """Grey picture -> latent, then turned and mirrored through ComfyUI's core classes."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae": ("VAE",), "color": ("INT", {"default": 0x808080}),
                             "copies": ("INT", {"default": 2, "min": 1, "max": 8})}}

    RETURN_TYPES = ("LATENT", "IMAGE")
    FUNCTION = "make"
    CATEGORY = "test pack/latents"

    def make(self, vae, color, copies):
        (image,) = nodes.EmptyImage().generate(32, 24, 1, color)
        (latent,) = nodes.VAEEncode().encode(vae, image)
        (latent,) = nodes.LatentRotate().rotate(latent, "90 degrees")
        (latent,) = nodes.LatentFlip().flip(latent, "y-axis: horizontally")
        (latent,) = nodes.RepeatLatentBatch().repeat(latent, copies)
        return (latent, image)


class CornerOf(nodes.LatentCrop):
    """A LatentCrop subclass that always keeps the top-left 64 x 64 pixels."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",)}}

    FUNCTION = "corner"

    def corner(self, samples):
        return self.crop(samples, 64, 64, 0, 0)


class WeakerArea:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",)}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "weaken"
    CATEGORY = "test pack/latents"

    def weaken(self, conditioning):
        strength = nodes.NODE_CLASS_MAPPINGS["ConditioningSetAreaStrength"]()
        return strength.append(conditioning, 0.5)


class HalfStyle:
    """Style tokens at half strength two ways: through STYLE_MODEL.get_cond (as Redux-style
    packs build their own conditioning) and through nodes.StyleModelApply; shows how far apart
    they are."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "style_model": ("STYLE_MODEL",),
                             "clip_vision_output": ("CLIP_VISION_OUTPUT",)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "compare"
    CATEGORY = "test pack/latents"

    def compare(self, conditioning, style_model, clip_vision_output):
        import json

        import torch

        tokens = style_model.get_cond(clip_vision_output).flatten(0, 1).unsqueeze(0) * 0.5
        own = [[torch.cat((c, tokens), dim=1), dict(o)] for c, o in conditioning]
        (core,) = nodes.StyleModelApply().apply_stylemodel(conditioning, style_model,
                                                           clip_vision_output, 0.5, "multiply")
        report = {"shape": list(own[0][0].shape), "tokens": int(tokens.shape[1]),
                  "apart": float((own[0][0] - core[0][0]).abs().max()),
                  "size": float(tokens.abs().max())}
        return {"ui": {"text": [json.dumps(report)]}}


NODE_CLASS_MAPPINGS = {"CheckerLatent": CheckerLatent, "CornerOf": CornerOf,
                       "WeakerArea": WeakerArea, "HalfStyle": HalfStyle}
