# A pack whose nodes call ComfyUI core classes that used to need ComfyUI itself (EmptyImage,
# LatentFlip, LatentRotate, LatentCrop, RepeatLatentBatch, ConditioningSetAreaStrength),
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


NODE_CLASS_MAPPINGS = {"CheckerLatent": CheckerLatent, "CornerOf": CornerOf,
                       "WeakerArea": WeakerArea}
