# A V3 (comfy_api.latest) pack, written for nodeflow's compatibility tests.
from comfy_api.latest import ComfyExtension, io, ui


class Brighten(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="Brighten V3", display_name="Brighten (V3)", category="test pack/v3",
            inputs=[io.Image.Input("image"),
                    io.Float.Input("amount", default=0.1, min=0.0, max=1.0, step=0.01),
                    io.Combo.Input("clamp", options=["yes", "no"])],
            outputs=[io.Image.Output(display_name="IMAGE")],
            hidden=[io.Hidden.unique_id])

    @classmethod
    def execute(cls, image, amount, clamp):
        out = image + amount
        if clamp == "yes":
            out = out.clamp(0, 1)
        return io.NodeOutput(out, ui=ui.PreviewText(f"{cls.hidden.unique_id} +{amount}"))


class CountAsync(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="CountAsync", category="test pack/v3",
                         inputs=[io.String.Input("text", default="a b c", multiline=True)],
                         outputs=[io.Int.Output(display_name="count")], is_output_node=True)

    @classmethod
    async def execute(cls, text):
        return io.NodeOutput(len(text.split()), ui={"text": [str(len(text.split()))]})


class V3Extension(ComfyExtension):
    async def get_node_list(self):
        return [Brighten, CountAsync]


async def comfy_entrypoint():
    return V3Extension()
