import torch
from comfy_api.latest import ComfyExtension, io, ui


class ShapeImageAdd(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="ImageAddConstant (shape)", display_name="Image + Constant",
                         category="shape/v3",
                         inputs=[io.Image.Input("image"),
                                 io.Float.Input("value", default=0.1, min=-1.0, max=1.0)],
                         outputs=[io.Image.Output()])

    @classmethod
    def execute(cls, image, value):
        return io.NodeOutput((image + value).clamp(0, 1))


class ShapeTextLength(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TextLength (shape)", category="shape/v3",
                         inputs=[io.String.Input("text", multiline=True, default="hello")],
                         outputs=[io.Int.Output(display_name="length")], is_output_node=True)

    @classmethod
    def execute(cls, text):
        return io.NodeOutput(len(text), ui=ui.PreviewText(str(len(text))))


class ShapeLatentNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="LatentNoise (shape)", category="shape/v3",
                         inputs=[io.Latent.Input("samples"),
                                 io.Int.Input("seed", default=0, min=0, max=2**32)],
                         outputs=[io.Latent.Output()])

    @classmethod
    def execute(cls, samples, seed):
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn(samples["samples"].shape, generator=gen)
        return io.NodeOutput({"samples": samples["samples"] + 0.1 * noise})


class ShapeExtension(ComfyExtension):
    async def get_node_list(self):
        return [ShapeImageAdd, ShapeTextLength, ShapeLatentNoise]


async def comfy_entrypoint():
    return ShapeExtension()
