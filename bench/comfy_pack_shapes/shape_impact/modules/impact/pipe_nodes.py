import nodes


class ShapeToBasicPipe:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",), "vae": ("VAE",),
                             "positive": ("CONDITIONING",), "negative": ("CONDITIONING",)}}

    RETURN_TYPES = ("BASIC_PIPE",)
    RETURN_NAMES = ("basic_pipe",)
    FUNCTION = "doit"
    CATEGORY = "shape/pipe"

    def doit(self, **kwargs):
        return ((kwargs["model"], kwargs["clip"], kwargs["vae"], kwargs["positive"],
                 kwargs["negative"]),)


class ShapeFromBasicPipe:
    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"basic_pipe": ("BASIC_PIPE",)}}

    RETURN_TYPES = ("MODEL", "CLIP", "VAE", "CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("model", "clip", "vae", "positive", "negative")
    FUNCTION = "doit"
    CATEGORY = "shape/pipe"

    def doit(self, basic_pipe):
        return basic_pipe


class ShapeEditPrompt:
    """Re-encodes the pipe's positive prompt through the core CLIPTextEncode."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"clip": ("CLIP",),
                             "text": ("STRING", {"multiline": True, "default": "a cat"})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "doit"
    CATEGORY = "shape/pipe"

    def doit(self, clip, text):
        return nodes.CLIPTextEncode().encode(clip, text)


PIPE_CLASSES = {"ToBasicPipe (shape)": ShapeToBasicPipe,
                "FromBasicPipe (shape)": ShapeFromBasicPipe,
                "EditPrompt (shape)": ShapeEditPrompt}
