CONTEXT_FIELDS = ("model", "clip", "vae", "positive", "negative", "latent", "images", "seed")
FIELD_TYPES = ("MODEL", "CLIP", "VAE", "CONDITIONING", "CONDITIONING", "LATENT", "IMAGE", "INT")


class ShapeContext:
    NAME = "Context (shape)"
    CATEGORY = "shape/context"

    @classmethod
    def INPUT_TYPES(cls):
        optional = {"base_ctx": ("SHAPE_CONTEXT",)}
        for name, kind in zip(CONTEXT_FIELDS, FIELD_TYPES):
            optional[name] = (kind, {"forceInput": True}) if kind == "INT" else (kind,)
        return {"required": {}, "optional": optional}

    RETURN_TYPES = ("SHAPE_CONTEXT",) + FIELD_TYPES
    RETURN_NAMES = ("CONTEXT",) + tuple(n.upper() for n in CONTEXT_FIELDS)
    FUNCTION = "convert"

    def convert(self, base_ctx=None, **kwargs):
        ctx = dict(base_ctx or {})
        ctx.update({k: v for k, v in kwargs.items() if v is not None})
        return (ctx,) + tuple(ctx.get(n) for n in CONTEXT_FIELDS)


class ShapeContextSwitch:
    NAME = "Context Switch (shape)"
    CATEGORY = "shape/context"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {},
                "optional": {f"ctx_{i:02d}": ("SHAPE_CONTEXT",) for i in range(1, 4)}}

    RETURN_TYPES = ("SHAPE_CONTEXT",)
    FUNCTION = "switch"

    def switch(self, **kwargs):
        for key in sorted(kwargs):
            if kwargs[key] is not None:
                return (kwargs[key],)
        return (None,)
