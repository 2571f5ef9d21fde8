from aiohttp import web
from server import PromptServer

WILDCARDS = {"animal": ["cat", "dog", "owl"]}


async def wildcards_list(request):
    return web.json_response(sorted(WILDCARDS))


PromptServer.instance.app.router.add_get("/shape-impact/wildcards/list", wildcards_list)
