from aiohttp import web
from server import PromptServer

routes = PromptServer.instance.routes


@routes.get("/shape-rgthree/api/loras")
async def api_loras(request):
    import folder_paths
    return web.json_response(folder_paths.get_filename_list("loras"))
