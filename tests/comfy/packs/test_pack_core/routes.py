import os

from aiohttp import web
from server import PromptServer

app = PromptServer.instance.app


async def queue_size(request):
    running, pending = PromptServer.instance.prompt_queue.get_current_queue()
    return web.json_response({"running": len(running), "pending": len(pending)})


async def echo(request):
    return web.json_response({"echo": (await request.json()).get("say")})


app.router.add_get("/testcore/queue", queue_size)
app.add_routes([web.post("/testcore/echo", echo),
                web.static("/testcore/files", os.path.join(os.path.dirname(__file__), "static"))])
app["testcore.loaded"] = True
