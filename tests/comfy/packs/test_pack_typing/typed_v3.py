from comfy_api.latest import io


@io.comfytype(io_type="TICKET")
class Ticket(io.ComfyTypeIO):
    Type = dict


class TicketMake(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TicketMake", category="test pack/typing",
                         inputs=[io.MultiType.Input("item", types=[io.Image, io.Mask]),
                                 io.Video.Input("clip", optional=True)],
                         outputs=[Ticket.Output(display_name="ticket")])

    @classmethod
    def execute(cls, item, clip=None):
        return io.NodeOutput({"shape": list(item.shape), "clip": clip})


class TicketPrint(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TicketPrint", category="test pack/typing",
                         inputs=[Ticket.Input("ticket")],
                         outputs=[io.String.Output(display_name="text")], is_output_node=True)

    @classmethod
    def execute(cls, ticket):
        text = "x".join(str(n) for n in ticket["shape"])
        return io.NodeOutput(text, ui={"text": [text]})
