"""The routes ComfyUI's own frontend uses beyond the queue API, with ComfyUI's semantics:
extensions, the (single) user and its settings, the user folder (userdata), translations,
workflow templates, the model library, the server log, embeddings, and the ComfyUI view of
the node types. They are served in both modes (any ComfyUI client may use them);
``nodeflow serve --frontend comfyui`` also serves the frontend itself at / (see
:func:`frontend_dir`) and /object_info in ComfyUI's names. nodeflow's own editor is always at
/nodeflow/.

Every client-given name goes through files.confined; writes pass the Origin and token checks
of security.py like every other route.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from ..comfy.object_view import comfy_object_info
from ..paths import shipped_dir
from . import userdata
from .bodies import read_json, read_json_object
from .errors import ApiError
from .feature_flags import server_features
from .files import PathRejected, confined, static_response
from .routing import Param, RouteTable
from .server_logs import LOGS
from .state import CONFIG, REGISTRY, SETTINGS

routes = RouteTable("comfyui")
editor_routes = RouteTable("editor")
"""nodeflow's editor under /nodeflow/ (registered after every API route)."""

FRONTEND_PACKAGE = "comfyui_frontend_package"
TEMPLATE_PACKAGES = (
    # comfyui-workflow-templates up to 0.1.x: one package with a templates/ folder
    "comfyui_workflow_templates",
    # 0.2 and later: the JSON files and the media in separate bundles
    "comfyui_workflow_templates_json", "comfyui_workflow_templates_media_image",
    "comfyui_workflow_templates_media_api", "comfyui_workflow_templates_media_video",
    "comfyui_workflow_templates_media_other", "comfyui_workflow_templates_media_assets_01",
    "comfyui_workflow_templates_media_assets_02",
)
EXAMPLES_MODULE = "nodeflow"
"""The template module (ComfyUI: a custom node pack) of nodeflow's shipped examples."""
SAVED_MODULE = "nodeflow-workflows"
"""The template module of the workflows saved with nodeflow's own editor."""
MODEL_FOLDERS = ("checkpoints", "vae", "loras")
OWN_EXTENSION = "nodeflow.comfyui"
"""The URL folder of nodeflow's own extension for ComfyUI's frontend (comfyui_web/): a dotted
name, so no pack (a Python module name) has it."""
OWN_EXTENSION_DIR = Path(__file__).parent / "comfyui_web"
INSTALL_HINT = "pip install 'nodeflow[comfyui-frontend]'"


class FrontendMissing(RuntimeError):
    pass


def frontend_dir() -> Path:
    """The static files of the installed comfyui-frontend-package."""
    spec = importlib.util.find_spec(FRONTEND_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FrontendMissing(f"ComfyUI's frontend is not installed ({INSTALL_HINT})")
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (static / "index.html").is_file():
        raise FrontendMissing(f"{static} has no index.html; reinstall it ({INSTALL_HINT})")
    return static


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def template_dirs() -> list[Path]:
    """The templates/ folders of the installed comfyui-workflow-templates bundles."""
    found = []
    for name in TEMPLATE_PACKAGES:
        folder = _package_dir(name)
        if folder is not None and (folder / "templates").is_dir():
            found.append(folder / "templates")
    return found


def _bool(request: web.Request, name: str, default: bool) -> bool:
    """A query flag read as ComfyUI reads it: a flag that defaults to true is false only when
    it says "false", one that defaults to false is true only when it says "true" (the frontend
    sends "undefined" for an option it leaves out)."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.lower() != "false" if default else value.lower() == "true"


# -- node types --------------------------------------------------------------------------------

@routes.get("/comfyui/object_info", "Every node type in ComfyUI's names (mapped core nodes "
            "under ComfyUI's class names, inputs and widget order; nodeflow-only nodes under "
            "nodeflow/...)", responses={200: ("Node types", "ObjectInfo")})
async def get_comfy_object_info(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(
        comfy_object_info, request.app[REGISTRY], request.app[SETTINGS]))


@routes.get("/comfyui/object_info/{node_class}", "One node type of the ComfyUI view ({} when "
            "there is none)", responses={200: ("That node type, or {}", "ObjectInfo")})
async def get_comfy_object_info_node(request: web.Request) -> web.Response:
    name = request.match_info["node_class"]
    info = await asyncio.to_thread(comfy_object_info, request.app[REGISTRY],
                                   request.app[SETTINGS])
    return web.json_response({name: info[name]} if name in info else {})


# -- extensions --------------------------------------------------------------------------------

def extension_list(app: web.Application) -> list[str]:
    """ComfyUI's /extensions: the frontend's own extensions/ scripts, then every .js file of
    every pack's web folder (nodeflow packs and ComfyUI packs), as /extensions/<pack>/<path>."""
    urls = []
    own = app[CONFIG].web_dir
    if own is not None and (own / "extensions").is_dir():
        urls += ["/" + p.relative_to(own).as_posix()
                 for p in sorted((own / "extensions").rglob("*.js")) if p.is_file()]
    if app[CONFIG].frontend == "comfyui":
        urls += [f"/extensions/{OWN_EXTENSION}/{p.name}"
                 for p in sorted(OWN_EXTENSION_DIR.glob("*.js"))]
    for pack in sorted(app[REGISTRY].packs.values(), key=lambda p: p.name):
        if not pack.web_dir or not Path(pack.web_dir).is_dir():
            continue
        root = Path(pack.web_dir).resolve()
        urls += [f"/extensions/{pack.name}/{p.relative_to(root).as_posix()}"
                 for p in sorted(root.rglob("*.js"))
                 if p.is_file() and p.resolve().is_relative_to(root)]
    return urls


@routes.get("/extensions", "The web extensions to load (ComfyUI's shape: a list of URLs)",
            responses={200: ("Script URLs", "NameList")})
async def list_comfy_extensions(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(extension_list, request.app))


@routes.get("/extensions/core/{path:.+}", "The frontend's own compatibility scripts (a pack "
            "named core is served from its web folder otherwise)", api=False,
            responses={200: ("The file", None), 404: ("No such file", "Error")})
async def core_extension(request: web.Request) -> web.StreamResponse:
    name = request.match_info["path"]
    roots = []
    if request.app[CONFIG].web_dir is not None:
        roots.append(request.app[CONFIG].web_dir / "extensions" / "core")
    pack = request.app[REGISTRY].packs.get("core")
    if pack is not None and pack.web_dir:
        roots.append(Path(pack.web_dir))
    for root in roots:
        try:
            path = confined(root, name, what="path")
        except PathRejected as exc:
            raise ApiError(400, str(exc), "invalid_path") from None
        if path.is_file():
            return static_response(path)
    raise ApiError(404, "no such extension file", "not_found")


@routes.get(f"/extensions/{OWN_EXTENSION}/{{path:.+}}", "nodeflow's own extension for "
            "ComfyUI's frontend", api=False,
            responses={200: ("The file", None), 404: ("No such file", "Error")})
async def own_extension(request: web.Request) -> web.StreamResponse:
    try:
        path = confined(OWN_EXTENSION_DIR, request.match_info["path"], what="path")
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None
    if not path.is_file():
        raise ApiError(404, "no such extension file", "not_found")
    return static_response(path)


# -- the user and its settings -------------------------------------------------------------------

@routes.get("/users", "The users: this server has one (ComfyUI without --multi-user)",
            responses={200: ('{"storage": "server", "migrated": bool}', None)})
async def get_users(request: web.Request) -> web.Response:
    folder = userdata.user_dir(request.app[SETTINGS])
    return web.json_response({"storage": "server", "migrated": folder.is_dir()})


@routes.post("/users", "Create a user: refused, this server has a single user",
             responses={400: ("Single user", "Error")})
async def post_users(request: web.Request) -> web.Response:
    raise ApiError(400, "this server has a single user (ComfyUI's --multi-user is not "
                        "supported)", "single_user")


@routes.get("/settings", "The user's settings (comfy.settings.json in the user folder, over "
            "nodeflow's defaults)", responses={200: ("Setting id -> value", None)})
async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(userdata.effective_settings,
                                                     request.app[SETTINGS]))


@routes.post("/settings", "Store several settings (merged into the stored ones)",
             responses={200: ("Stored", None), 400: ("Not a JSON object", "Error")})
async def post_settings(request: web.Request) -> web.Response:
    changes = await read_json_object(request, plain_text=True)
    await asyncio.to_thread(userdata.store_settings, request.app[SETTINGS], changes)
    return web.Response(status=200)


@routes.get("/settings/{id}", "One setting's value (null when unset)",
            responses={200: ("The value", None)})
async def get_setting(request: web.Request) -> web.Response:
    stored = await asyncio.to_thread(userdata.effective_settings, request.app[SETTINGS])
    return web.json_response(stored.get(request.match_info["id"]))


@routes.post("/settings/{id}", "Store one setting (the body is its JSON value)",
             responses={200: ("Stored", None), 400: ("Not JSON", "Error")})
async def post_setting(request: web.Request) -> web.Response:
    value = await read_json(request, plain_text=True)
    await asyncio.to_thread(userdata.store_settings, request.app[SETTINGS],
                            {request.match_info["id"]: value})
    return web.Response(status=200)


# -- the user folder ----------------------------------------------------------------------------

@routes.get("/userdata", "The files in a folder of the user folder",
            query=(Param("dir", "the folder, relative to the user folder", required=True),
                   Param("recurse", "include subfolders (default false)", type="boolean"),
                   Param("full_info", "objects with path, size, modified (default false)",
                         type="boolean"),
                   Param("split", "each entry as [path, *its parts] (default false)",
                         type="boolean")),
            responses={200: ("Relative paths (or objects)", None),
                       400: ("No dir, or a dir that leaves the user folder", "Error"),
                       404: ("No such folder", "Error")})
async def list_userdata(request: web.Request) -> web.Response:
    directory = request.query.get("dir")
    if not directory:
        raise ApiError(400, "dir is needed", "invalid_path")
    listing = await asyncio.to_thread(
        userdata.list_dir, request.app[SETTINGS], directory,
        recurse=_bool(request, "recurse", False), full_info=_bool(request, "full_info", False),
        split=_bool(request, "split", False))
    return web.json_response(listing)


@routes.get("/userdata/{file}", "A file of the user folder (the name URL-encoded, / as %2F)",
            responses={200: ("The file", None), 400: ("A name that leaves the folder", "Error"),
                       404: ("No such file", "Error")})
async def get_userdata(request: web.Request) -> web.StreamResponse:
    path = userdata.user_path(request.app[SETTINGS], request.match_info["file"])
    if not path.is_file() and request.match_info["file"] == userdata.USER_CSS:
        return _empty_css()
    if not path.is_file():
        raise ApiError(404, f"no file {request.match_info['file']!r}", "not_found")
    return web.FileResponse(path, headers={"Content-Type": _content_type(path),
                                           "Cache-Control": "no-cache"})


@routes.post("/userdata/{file}", "Store a file in the user folder (the body as it is); a "
             "workflow under workflows/ is also kept as a nodeflow workflow in "
             "workflows/comfyui/ of the base folder",
             query=(Param("overwrite", "replace an existing file (default true)",
                          type="boolean"),
                    Param("full_info", "answer with path, size, modified (default false)",
                          type="boolean")),
             responses={200: ("The stored path, relative to the user folder", None),
                        400: ("A name that leaves the folder", "Error"),
                        409: ("Exists and overwrite=false", "Error")})
async def post_userdata(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    path = userdata.user_path(settings, request.match_info["file"])
    overwrite = _bool(request, "overwrite", True)
    full_info = _bool(request, "full_info", False)
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the request body is larger than {request.client_max_size} "
                            "bytes", "too_large") from None
    await asyncio.to_thread(userdata.write_file, settings, request.app[REGISTRY], path, data,
                            overwrite=overwrite)
    return web.json_response(_stored(settings, path, full_info))


@routes.delete("/userdata/{file}", "Delete a file of the user folder (and its nodeflow copy)",
               responses={204: ("Deleted", None), 404: ("No such file", "Error")})
async def delete_userdata(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    path = userdata.user_path(settings, request.match_info["file"])
    await asyncio.to_thread(userdata.delete_file, settings, request.app[REGISTRY], path)
    return web.Response(status=204)


@routes.post("/userdata/{file}/move/{dest}", "Move (rename) a file of the user folder",
             query=(Param("overwrite", "replace an existing destination (default true)",
                          type="boolean"),
                    Param("full_info", "answer with path, size, modified (default false)",
                          type="boolean")),
             responses={200: ("The new path, relative to the user folder", None),
                        404: ("No such file", "Error"),
                        409: ("The destination exists and overwrite=false", "Error")})
async def move_userdata(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    source = userdata.user_path(settings, request.match_info["file"])
    dest = userdata.user_path(settings, request.match_info["dest"])
    await asyncio.to_thread(userdata.move_file, settings, request.app[REGISTRY], source, dest,
                            overwrite=_bool(request, "overwrite", True))
    return web.json_response(_stored(settings, dest, _bool(request, "full_info", False)))


@routes.get("/user.css", "The user's stylesheet (user.css in the user folder; empty when there "
            "is none)", api=False, responses={200: ("CSS", None)})
async def user_css(request: web.Request) -> web.StreamResponse:
    path = userdata.user_dir(request.app[SETTINGS]) / userdata.USER_CSS
    return static_response(path) if path.is_file() else _empty_css()


def _empty_css() -> web.Response:
    return web.Response(text="", content_type="text/css", charset="utf-8")


def _stored(settings, path: Path, full_info: bool) -> Any:
    if full_info:
        return userdata.file_info(path, userdata.user_dir(settings).resolve())
    return userdata.relative(settings, path)


def _content_type(path: Path) -> str:
    return "application/json" if path.suffix == ".json" else "application/octet-stream"


# -- translations, embeddings, models, logs ----------------------------------------------------

def pack_translations(registry) -> dict:
    """ComfyUI's /i18n: the locales/<lang>/{main,nodeDefs,commands,settings}.json of every
    pack that ships them, merged by language."""
    merged: dict[str, dict] = {}
    for pack in registry.packs.values():
        origin = Path(pack.origin)
        folder = (origin if origin.is_dir() else origin.parent) / "locales"
        if not folder.is_dir():
            continue
        for lang in sorted(p for p in folder.iterdir() if p.is_dir()):
            for part in ("main", "nodeDefs", "commands", "settings"):
                file = lang / f"{part}.json"
                if not file.is_file():
                    continue
                try:
                    data = json.loads(file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(data, dict):
                    target = merged.setdefault(lang.name, {})
                    if part == "main":
                        target.update(data)
                    else:
                        target.setdefault(part, {}).update(data)
    return merged


@routes.get("/i18n", "The node packs' translations, by language",
            responses={200: ("language -> translations", None)})
async def get_i18n(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(pack_translations,
                                                     request.app[REGISTRY]))


@routes.get("/features", "The server's feature flags (as sent on the websocket)",
            responses={200: ("Flag -> value", None)})
async def get_features(request: web.Request) -> web.Response:
    return web.json_response(server_features(request.app))


@routes.get("/embeddings", "Textual-inversion embeddings in models/embeddings, by the name a "
            "prompt uses (embedding:NAME)", responses={200: ("Names", "NameList")})
async def get_embeddings(request: web.Request) -> web.Response:
    from ..diffusion.checkpoint_paths import available_models

    base = request.app[SETTINGS].base_dir
    names = await asyncio.to_thread(available_models, base, "embeddings")
    return web.json_response(sorted({Path(str(n)).with_suffix("").as_posix() for n in names}))


@routes.get("/experiment/models", "The model folders (ComfyUI's model library)",
            responses={200: ("[{name, folders}]", None)})
async def model_folders(request: web.Request) -> web.Response:
    from ..diffusion.checkpoint_paths import model_dirs

    base = request.app[SETTINGS].base_dir
    folders = await asyncio.to_thread(
        lambda: [{"name": kind, "folders": [str(d) for d in model_dirs(base, kind)]}
                 for kind in MODEL_FOLDERS])
    return web.json_response(folders)


@routes.get("/experiment/models/{folder}", "The models in one folder (ComfyUI's model library)",
            responses={200: ("[{name, pathIndex}]", None), 404: ("Unknown folder", "Error")})
async def folder_models(request: web.Request) -> web.Response:
    from ..diffusion.checkpoint_errors import CheckpointError
    from ..diffusion.checkpoint_paths import available_models, model_dirs

    kind = request.match_info["folder"]
    if kind not in MODEL_FOLDERS:
        raise ApiError(404, f"no model folder {kind!r}", "not_found")
    base = request.app[SETTINGS].base_dir

    def listing() -> list[dict]:
        dirs = model_dirs(base, kind)
        found = []
        for name in available_models(base, kind):
            index = next((i for i, d in enumerate(dirs) if (d / str(name)).exists()), 0)
            found.append({"name": str(name), "pathIndex": index})
        return found

    try:
        return web.json_response(await asyncio.to_thread(listing))
    except CheckpointError as exc:
        raise ApiError(500, str(exc), "model_folders") from None


@routes.get("/internal/logs", "The server's recent log lines, as text", api=False,
            responses={200: ("Text", None)})
async def get_logs(request: web.Request) -> web.Response:
    return web.json_response(request.app[LOGS].text())


@routes.get("/internal/logs/raw", "The server's recent log lines, as entries", api=False,
            responses={200: ('{"entries": [{"t", "m"}], "size": {"cols", "rows"}}', None)})
async def get_raw_logs(request: web.Request) -> web.Response:
    return web.json_response(request.app[LOGS].raw())


@routes.route("PATCH", "/internal/logs/subscribe", "Receive new log lines as \"logs\" "
              "websocket messages ({\"enabled\": bool, \"clientId\": ...})", api=False,
              responses={200: ("Done", None), 400: ("Malformed request", "Error")})
async def subscribe_logs(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    client_id = body.get("clientId")
    if not isinstance(client_id, str) or not client_id:
        raise ApiError(400, "clientId must be a client id")
    subscribers = request.app[LOGS].subscribers
    if body.get("enabled"):
        subscribers.add(client_id)
    else:
        subscribers.discard(client_id)
    return web.Response(status=200)


@routes.get("/internal/folder_paths", "The folders of each kind of model", api=False,
            responses={200: ("kind -> folders", None)})
async def folder_paths(request: web.Request) -> web.Response:
    from ..diffusion.checkpoint_paths import model_dirs

    base = request.app[SETTINGS].base_dir
    return web.json_response(await asyncio.to_thread(
        lambda: {kind: [str(d) for d in model_dirs(base, kind)] for kind in MODEL_FOLDERS}))


# -- workflow templates -------------------------------------------------------------------------

@routes.get("/templates/{path:.+}", "A file of the installed comfyui-workflow-templates "
            "(index.json, <name>.json, thumbnails)", api=False,
            responses={200: ("The file", None), 404: ("Not installed, or no such file",
                                                       "Error")})
async def template_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["path"]
    for root in await asyncio.to_thread(template_dirs):
        try:
            path = confined(root, name, what="path")
        except PathRejected as exc:
            raise ApiError(400, str(exc), "invalid_path") from None
        if path.is_file():
            return static_response(path)
    raise ApiError(404, f"no template file {name!r} (templates come from "
                        "'pip install comfyui-workflow-templates')", "not_found")


def _workflow_names(root: Path, skip: str | None = None) -> list[str]:
    if not root.is_dir():
        return []
    real = root.resolve()
    names = []
    for path in sorted(real.rglob("*.json")):
        rel = path.relative_to(real)
        if path.is_file() and path.resolve().is_relative_to(real) and \
                not any(part.startswith(".") for part in rel.parts) and \
                (skip is None or rel.parts[0] != skip):
            names.append(rel.with_suffix("").as_posix())
    return names


def _template_roots(app: web.Application) -> dict[str, tuple[Path, str | None]]:
    return {EXAMPLES_MODULE: (shipped_dir("workflows"), None),
            SAVED_MODULE: (app[SETTINGS].workflows_dir, userdata.NODEFLOW_COPIES)}


@routes.get("/workflow_templates", "Template workflows by module: nodeflow's examples and the "
            "workflows saved with nodeflow's editor", responses={200: ("module -> names", None)})
async def workflow_templates(request: web.Request) -> web.Response:
    roots = _template_roots(request.app)
    listing = {module: await asyncio.to_thread(_workflow_names, root, skip)
               for module, (root, skip) in roots.items()}
    return web.json_response({k: v for k, v in listing.items() if v})


@routes.get("/workflow_templates/{module}/{path:.+}", "One template workflow, in ComfyUI's "
            "editor format", responses={200: ("The workflow", None),
                                        404: ("No such template", "Error")})
async def workflow_template(request: web.Request) -> web.Response:
    roots = _template_roots(request.app)
    module, name = request.match_info["module"], request.match_info["path"]
    if module not in roots or not name.endswith(".json"):
        raise ApiError(404, f"no template {module}/{name}", "not_found")
    try:
        path = confined(roots[module][0], name, what="path")
    except PathRejected as exc:
        raise ApiError(400, str(exc), "invalid_path") from None
    if not path.is_file():
        raise ApiError(404, f"no template {module}/{name}", "not_found")
    registry, settings = request.app[REGISTRY], request.app[SETTINGS]
    return web.json_response(await asyncio.to_thread(_as_editor_workflow, path, registry,
                                                     settings))


def _as_editor_workflow(path: Path, registry, settings) -> dict:
    from ..comfy.view_export import to_comfy_editor
    from ..errors import WorkflowError
    from ..files import read_workflow_file
    from ..migrations import upgrade_workflow

    try:
        workflow, _notes = upgrade_workflow(read_workflow_file(path, registry), registry)
    except WorkflowError as exc:
        raise ApiError(422, f"{path.name} cannot be opened: "
                            + "; ".join(map(str, exc.problems)), "invalid_workflow") from None
    return to_comfy_editor(workflow, registry, settings)


# -- nodeflow's own editor ------------------------------------------------------------------

@editor_routes.get("/nodeflow/", "nodeflow's own editor (also at / unless the server runs "
                   "with --frontend comfyui)", api=False,
                   responses={200: ("index.html", None), 404: ("Not installed", None)})
async def nodeflow_editor(request: web.Request) -> web.StreamResponse:
    path = shipped_dir("web") / "index.html"
    if not path.is_file():
        raise ApiError(404, "nodeflow's editor is not installed", "not_found")
    return static_response(path)


@editor_routes.get("/nodeflow/{path:.+}", "nodeflow's own editor's files", api=False,
                   responses={200: ("The file", None), 404: ("No such file", "Error")})
async def nodeflow_editor_file(request: web.Request) -> web.StreamResponse:
    try:
        path = confined(shipped_dir("web"), request.match_info["path"], what="path")
    except PathRejected:
        raise ApiError(404, "not found", "not_found") from None
    if not path.is_file():
        raise ApiError(404, "not found", "not_found")
    return static_response(path)
