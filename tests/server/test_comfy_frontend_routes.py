"""The routes ComfyUI's frontend uses beyond the queue API (routes_comfy_frontend.py): users,
settings, userdata (with its query flags, path confinement and the nodeflow copy of saved
workflows), extensions, i18n, templates, the model library, logs, embeddings, feature flags,
the Origin and token rules on all of them, and --frontend comfyui itself."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nodeflow.registry import PackInfo
from nodeflow.server import ServerConfig, create_app
from nodeflow.server.userdata import DEFAULT_SETTINGS

from .conftest import receive_until

pytestmark = pytest.mark.asyncio

EVIL = {"Origin": "http://evil.example"}


def editor_workflow(prefix: str = "from-comfyui") -> dict:
    """A ComfyUI editor-format workflow (what the frontend saves) over the stub nodes."""
    return {
        "last_node_id": 3, "last_link_id": 2, "version": 0.4,
        "nodes": [
            {"id": 1, "type": "EmptyLatentImage", "pos": [0, 0], "size": [300, 100],
             "mode": 0, "outputs": [{"name": "LATENT", "type": "LATENT", "links": [1]}],
             "widgets_values": [64, 64, 1]},
            {"id": 2, "type": "CheckpointLoaderSimple", "pos": [0, 200], "mode": 0,
             "outputs": [{"name": "MODEL", "type": "MODEL", "links": None},
                         {"name": "CLIP", "type": "CLIP", "links": None},
                         {"name": "VAE", "type": "VAE", "links": [2]}],
             "widgets_values": ["tiny.safetensors"]},
            {"id": 3, "type": "VAEDecode", "pos": [400, 0], "mode": 0,
             "inputs": [{"name": "samples", "type": "LATENT", "link": 1},
                        {"name": "vae", "type": "VAE", "link": 2}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": None}]},
        ],
        "links": [[1, 1, 0, 3, 0, "LATENT"], [2, 2, 2, 3, 1, "VAE"]],
        "groups": [], "config": {}, "extra": {"note": prefix},
    }


async def test_single_user(client, settings):
    assert await (await client.get("/api/users")).json() == {"storage": "server",
                                                             "migrated": False}
    response = await client.post("/api/users", json={"username": "someone"})
    assert response.status == 400
    assert not (settings.base_dir / "user" / "someone").exists()


async def test_settings_persist_in_the_user_folder(client, settings):
    assert await (await client.get("/api/settings")).json() == DEFAULT_SETTINGS
    assert (await client.post("/api/settings", json={"Comfy.Locale": "fr",
                                                     "Comfy.TutorialCompleted": True})).status == 200
    assert (await client.post("/api/settings/Comfy.Sidebar.Size",
                              data=json.dumps("small"))).status == 200
    # a setting id with a dot and a slash-free name, read back one by one and all together
    assert await (await client.get("/api/settings/Comfy.Locale")).json() == "fr"
    assert await (await client.get("/api/settings/Nope.Unset")).json() is None
    stored = json.loads((settings.base_dir / "user/default/comfy.settings.json").read_text())
    assert stored == {"Comfy.Locale": "fr", "Comfy.TutorialCompleted": True,
                      "Comfy.Sidebar.Size": "small"}
    everything = await (await client.get("/api/settings")).json()
    assert everything == {**DEFAULT_SETTINGS, **stored}
    # a stored value replaces a default
    await client.post("/api/settings/Comfy.Notification.ShowVersionUpdates", data="true")
    assert await (await client.get(
        "/api/settings/Comfy.Notification.ShowVersionUpdates")).json() is True
    assert (await client.post("/api/settings", json=[1, 2])).status == 400
    assert (await client.post("/api/settings/x", data="{not json")).status == 400
    # the frontend's page sends a setting as text/plain (fetch's type for a string body)
    page = {"Content-Type": "text/plain;charset=UTF-8", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/api/settings/Comfy.Queue.History.Expanded", data="true",
                              headers=page)).status == 200
    assert await (await client.get("/api/settings/Comfy.Queue.History.Expanded")).json()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/api/settings/x", data="1", headers=form)).status == 415
    other_site = {**page, "Sec-Fetch-Site": "cross-site"}
    assert (await client.post("/api/settings/x", data="1", headers=other_site)).status == 403
    assert (await client.get("/api/users")).status == 200
    assert (await (await client.get("/api/users")).json())["migrated"] is True


async def test_userdata_store_read_list_move_delete(client, settings):
    text = json.dumps(editor_workflow(), indent=1) + "\n   "  # odd formatting: kept as it is
    response = await client.post("/api/userdata/workflows%2Fmine.json", data=text)
    assert response.status == 200
    assert await response.json() == "workflows/mine.json"
    stored = settings.base_dir / "user/default/workflows/mine.json"
    assert stored.read_text() == text
    got = await client.get("/api/userdata/workflows%2Fmine.json")
    assert got.status == 200 and await got.text() == text
    # overwrite=false refuses an existing file; full_info describes the stored one
    assert (await client.post("/api/userdata/workflows%2Fmine.json?overwrite=false",
                              data="{}")).status == 409
    info = await (await client.post("/api/userdata/workflows%2Fsub%2Fother.json"
                                    "?overwrite=true&full_info=true", data="{}")).json()
    assert info["path"] == "workflows/sub/other.json" and info["size"] == 2
    assert isinstance(info["modified"], float)

    listing = await (await client.get("/api/userdata?dir=workflows")).json()
    assert listing == ["mine.json"]
    listing = await (await client.get("/api/userdata?dir=workflows&recurse=true")).json()
    assert listing == ["mine.json", "sub/other.json"]
    split = await (await client.get("/api/userdata?dir=workflows&recurse=true&split=true")
                   ).json()
    assert split == [["mine.json", "mine.json"], ["sub/other.json", "sub", "other.json"]]
    full = await (await client.get("/api/userdata?dir=workflows&recurse=true&full_info=true"
                                   "&split=false")).json()
    assert [f["path"] for f in full] == ["mine.json", "sub/other.json"]
    assert full[0]["size"] == len(text.encode())
    assert (await client.get("/api/userdata?dir=nothing-here")).status == 404
    assert (await client.get("/api/userdata")).status == 400

    # move: refuses to replace with overwrite=false (the frontend's default); the flags are
    # read as ComfyUI reads them ("undefined" for a left-out option)
    assert (await client.post("/api/userdata/workflows%2Fmine.json/move/"
                              "workflows%2Fsub%2Fother.json?overwrite=false")).status == 409
    assert (await client.post("/api/userdata/comfy.templates.json?overwrite=undefined"
                              "&full_info=undefined", data="[]")).status == 200
    moved = await client.post("/api/userdata/workflows%2Fmine.json/move/workflows%2Frenamed.json")
    assert moved.status == 200 and await moved.json() == "workflows/renamed.json"
    assert not stored.exists()
    assert (settings.base_dir / "user/default/workflows/renamed.json").read_text() == text
    assert (await client.post("/api/userdata/workflows%2Fgone.json/move/x.json")).status == 404

    assert (await client.delete("/api/userdata/workflows%2Frenamed.json")).status == 204
    assert (await client.get("/api/userdata/workflows%2Frenamed.json")).status == 404
    assert (await client.delete("/api/userdata/workflows%2Frenamed.json")).status == 404


async def test_saved_workflows_are_also_nodeflow_workflows(client, settings):
    copy = settings.workflows_dir / "comfyui" / "saved.json"
    await client.post("/api/userdata/workflows%2Fsaved.json", data=json.dumps(editor_workflow()))
    data = json.loads(copy.read_text())
    assert data["nodeflow"] == 1
    assert {n["type"] for n in data["nodes"].values()} == {"EmptyLatent", "CheckpointLoader",
                                                           "VAEDecode"}
    assert data["nodes"]["1"]["inputs"] == {"width": 64, "height": 64, "batch_size": 1}
    # nodeflow's own workflow routes list and serve it
    assert "comfyui/saved.json" in (await (await client.get("/workflows")).json())["workflows"]
    await client.post("/api/userdata/workflows%2Fsaved.json/move/workflows%2Fb.json")
    assert not copy.exists()
    assert (settings.workflows_dir / "comfyui" / "b.json").is_file()
    await client.delete("/api/userdata/workflows%2Fb.json")
    assert not (settings.workflows_dir / "comfyui" / "b.json").exists()
    # other user files (settings, templates) get no copy
    await client.post("/api/userdata/comfy.templates.json", data="[]")
    assert not (settings.workflows_dir / "comfyui" / "comfy.templates.json").exists()


async def test_nodeflow_copy_keeps_nodeflow_only_inputs(client, settings):
    """VAEEncode's mode and seed (nodeflow's, not ComfyUI's) are saved by the frontend after
    ComfyUI's widgets; the nodeflow copy has them, so nodeflow's editor loses nothing."""
    workflow = editor_workflow()
    workflow["nodes"].append({
        "id": 4, "type": "VAEEncode", "pos": [400, 200], "mode": 0,
        "inputs": [{"name": "pixels", "type": "IMAGE", "link": 3},
                   {"name": "vae", "type": "VAE", "link": 4}],
        "outputs": [{"name": "LATENT", "type": "LATENT", "links": None}],
        "widgets_values": ["sample", 42]})
    workflow["links"] += [[3, 3, 0, 4, 0, "IMAGE"], [4, 2, 2, 4, 1, "VAE"]]
    await client.post("/api/userdata/workflows%2Fencode.json", data=json.dumps(workflow))
    copy = json.loads((settings.workflows_dir / "comfyui" / "encode.json").read_text())
    inputs = copy["nodes"]["4"]["inputs"]
    assert (inputs["mode"], inputs["seed"]) == ("sample", 42)
    assert inputs["image"] == {"node": "3", "output": "image"}


@pytest.mark.parametrize("name", ["..%2Foutside.json", "%2E%2E%2Foutside.json",
                                  "workflows%2F..%2F..%2Foutside.json", "%2Fetc%2Fpasswd",
                                  "..%5Coutside.json", "a%00b.json"])
async def test_userdata_names_stay_in_the_user_folder(client, settings, name):
    for response in [await client.post(f"/api/userdata/{name}", data="x"),
                     await client.get(f"/api/userdata/{name}"),
                     await client.delete(f"/api/userdata/{name}"),
                     await client.post(f"/api/userdata/ok.json/move/{name}")]:
        assert response.status == 400, name
    assert (await client.get(f"/api/userdata?dir={name}")).status == 400
    assert not (settings.base_dir / "user" / "outside.json").exists()
    assert not (settings.base_dir / "outside.json").exists()


async def test_userdata_symlink_out_of_the_folder_is_refused(client, settings, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key.txt").write_text("secret")
    user = settings.base_dir / "user/default"
    user.mkdir(parents=True)
    (user / "link").symlink_to(outside)
    assert (await client.get("/api/userdata/link%2Fkey.txt")).status == 400
    assert (await client.get("/api/userdata?dir=link")).status == 400


async def test_cross_origin_writes_are_refused(client, settings):
    user = settings.base_dir / "user/default"
    for method, path, body in [("POST", "/api/userdata/workflows%2Fx.json", "{}"),
                               ("POST", "/userdata/x.json", "{}"),
                               ("DELETE", "/api/userdata/x.json", None),
                               ("POST", "/api/userdata/a.json/move/b.json", None),
                               ("POST", "/api/settings", "{}"),
                               ("POST", "/api/settings/Comfy.Locale", '"fr"'),
                               ("POST", "/api/users", "{}"),
                               ("PATCH", "/internal/logs/subscribe", '{"enabled": true}')]:
        response = await client.request(method, path, data=body, headers=EVIL)
        assert response.status == 403, (method, path)
    assert not user.exists()
    # the same origin may write
    host = f"http://{client.server.host}:{client.server.port}"
    response = await client.post("/api/userdata/x.json", data="{}", headers={"Origin": host})
    assert response.status == 200


async def test_token_is_needed_for_the_user_folder(aiohttp_client, make_app):
    client = await aiohttp_client(make_app(token="s3cret"))
    assert (await client.get("/api/userdata?dir=workflows")).status == 401
    assert (await client.post("/api/settings", json={"a": 1})).status == 401
    assert (await client.get("/api/settings",
                             headers={"Authorization": "Bearer s3cret"})).status == 200


async def test_extensions_list_pack_scripts(aiohttp_client, settings, registry, tmp_path):
    web = tmp_path / "pack" / "web"
    (web / "lib").mkdir(parents=True)
    (web / "main.js").write_text("export {}")
    (web / "lib" / "util.js").write_text("export {}")
    (web / "style.css").write_text("")
    registry.packs["comfy_pack"] = PackInfo("comfy_pack", "1.0", str(tmp_path / "pack"),
                                            "custom", web_dir=str(web))
    client = await aiohttp_client(create_app(settings, registry=registry))
    urls = await (await client.get("/api/extensions")).json()
    assert urls == ["/extensions/comfy_pack/lib/util.js", "/extensions/comfy_pack/main.js"]
    for url in urls:
        response = await client.get(url)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
    assert (await client.get("/extensions/comfy_pack/..%2F..%2Fsecret.js")).status in (400, 404)


async def test_i18n_merges_pack_locales(aiohttp_client, settings, registry, tmp_path):
    locales = tmp_path / "pack" / "locales"
    (locales / "en").mkdir(parents=True)
    (locales / "fr").mkdir(parents=True)
    (locales / "en" / "main.json").write_text('{"hello": "Hello"}')
    (locales / "en" / "nodeDefs.json").write_text('{"MyNode": {"display_name": "My node"}}')
    (locales / "fr" / "main.json").write_text('{"hello": "Bonjour"}')
    registry.packs["loc_pack"] = PackInfo("loc_pack", "1.0", str(tmp_path / "pack"), "custom")
    client = await aiohttp_client(create_app(settings, registry=registry))
    assert await (await client.get("/api/i18n")).json() == {
        "en": {"hello": "Hello", "nodeDefs": {"MyNode": {"display_name": "My node"}}},
        "fr": {"hello": "Bonjour"}}


async def test_model_library(client):
    folders = await (await client.get("/api/experiment/models")).json()
    assert [f["name"] for f in folders] == ["checkpoints", "vae", "loras"]
    assert all(isinstance(f["folders"], list) for f in folders)
    models = await (await client.get("/api/experiment/models/checkpoints")).json()
    assert {"name": "tiny.safetensors", "pathIndex": 0} in models
    assert (await client.get("/api/experiment/models/..")).status == 404
    assert (await client.get("/api/experiment/models/configs")).status == 404
    paths = await (await client.get("/internal/folder_paths")).json()
    assert set(paths) == {"checkpoints", "vae", "loras"}


async def test_embeddings_lists_what_prompts_can_name(client, settings):
    assert await (await client.get("/api/embeddings")).json() == []
    folder = settings.base_dir / "models" / "embeddings"
    (folder / "styles").mkdir(parents=True)
    (folder / "easynegative.safetensors").write_bytes(b"")
    (folder / "styles" / "ink.safetensors").write_bytes(b"")
    names = await (await client.get("/api/embeddings")).json()
    assert names == ["easynegative", "styles/ink"]


async def test_logs_are_kept_and_sent_to_subscribers(client):
    logging.getLogger("nodeflow.test").warning("a line for the log panel")
    text = await (await client.get("/internal/logs")).json()
    assert "a line for the log panel" in text
    raw = await (await client.get("/internal/logs/raw")).json()
    assert raw["size"]["cols"] > 0
    assert any("a line for the log panel" in e["m"] for e in raw["entries"])
    ws = await client.ws_connect("/ws?clientId=logreader")
    assert (await client.patch("/internal/logs/subscribe",
                               json={"enabled": True, "clientId": "logreader"})).status == 200
    logging.getLogger("nodeflow.test").warning("a second line")
    messages = await receive_until(ws, lambda m: isinstance(m, dict) and m["type"] == "logs")
    assert "a second line" in messages[-1]["data"]["entries"][0]["m"]
    assert (await client.patch("/internal/logs/subscribe", json={"enabled": True})).status == 400
    await ws.close()


async def test_feature_flags_over_the_websocket(client):
    ws = await client.ws_connect("/ws?clientId=flags")
    await ws.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    messages = await receive_until(ws, lambda m: isinstance(m, dict)
                                   and m["type"] == "feature_flags")
    flags = messages[-1]["data"]
    assert flags["supports_preview_metadata"] is False  # nodeflow sends type-1 previews
    assert flags["max_upload_size"] == ServerConfig().max_upload_bytes
    assert await (await client.get("/api/features")).json() == flags
    await ws.send_str("not json")  # ignored, the socket stays open
    await ws.send_json({"type": "feature_flags", "data": {}})
    await receive_until(ws, lambda m: isinstance(m, dict) and m["type"] == "feature_flags")
    await ws.close()


async def test_workflow_templates_are_nodeflow_examples_and_saved_workflows(client, settings):
    settings.workflows_dir.mkdir(parents=True)
    (settings.workflows_dir / "mine.json").write_text(json.dumps({"nodeflow": 1, "nodes": {
        "latent": {"type": "EmptyLatent", "inputs": {"width": 64, "height": 64}}}}))
    listing = await (await client.get("/api/workflow_templates")).json()
    assert "txt2img" in listing["nodeflow"]
    assert listing["nodeflow-workflows"] == ["mine"]
    mine = await (await client.get("/api/workflow_templates/nodeflow-workflows/mine.json")).json()
    assert [n["type"] for n in mine["nodes"]] == ["EmptyLatentImage"]
    assert mine["nodes"][0]["widgets_values"] == [64, 64, 1]
    example = await client.get("/api/workflow_templates/nodeflow/txt2img.json")
    assert example.status == 200
    assert (await client.get("/api/workflow_templates/nodeflow/..%2F..%2Fx.json")).status == 400
    assert (await client.get("/api/workflow_templates/other/txt2img.json")).status == 404


async def test_core_templates_come_from_the_installed_package(client):
    pytest.importorskip("comfyui_workflow_templates")
    index = await client.get("/templates/index.json")
    assert index.status == 200
    assert index.headers["Content-Type"] == "application/json"
    categories = await index.json()
    name = categories[0]["templates"][0]["name"]
    assert (await client.get(f"/templates/{name}.json")).status == 200
    assert (await client.get("/templates/..%2F..%2F__init__.py")).status == 400
    assert (await client.get("/templates/nothing.json")).status == 404


async def test_nodeflow_editor_is_at_nodeflow(client):
    page = await client.get("/nodeflow/")
    assert page.status == 200 and "<html" in (await page.text()).lower()
    assert (await client.get("/nodeflow/js/main.js")).status == 200
    assert (await client.get("/nodeflow/..%2F..%2Fpyproject.toml")).status == 404
    # nodeflow's own routes under /nodeflow/ are not shadowed by the editor's files
    assert "nodes" in await (await client.get("/nodeflow/object_info")).json()


async def test_user_css_is_empty_until_written(client):
    for path in ("/user.css", "/api/userdata/user.css"):
        response = await client.get(path)
        assert response.status == 200 and response.content_type == "text/css"
        assert await response.text() == ""
    await client.post("/api/userdata/user.css", data="body { color: red }")
    assert await (await client.get("/user.css")).text() == "body { color: red }"


async def test_serve_comfyui_frontend(aiohttp_client, make_app):
    pytest.importorskip("comfyui_frontend_package")
    client = await aiohttp_client(make_app(frontend="comfyui"))
    page = await client.get("/")
    assert page.status == 200 and 'id="vue-app"' in await page.text()
    assert (await client.get("/scripts/app.js")).status == 200
    assert (await client.get("/extensions/core/groupNode.js")).status == 200
    urls = await (await client.get("/api/extensions")).json()
    assert "/extensions/core/groupNode.js" in urls
    assert "/extensions/nodeflow.comfyui/compat.js" in urls
    assert (await client.get("/extensions/nodeflow.comfyui/compat.js")).status == 200
    # /object_info speaks ComfyUI's names in this mode, at / and under /api
    for path in ("/object_info", "/api/object_info"):
        info = await (await client.get(path)).json()
        assert "CheckpointLoaderSimple" in info and "CheckpointLoader" not in info
        assert info["KSampler"]["input"]["required"]["sampler_name"][0][0] == "euler"
    one = await (await client.get("/api/object_info/CLIPTextEncode")).json()
    assert one["CLIPTextEncode"]["input"]["required"]["text"][1]["multiline"] is True
    # nodeflow's editor is still there, and its own node schemas
    assert (await client.get("/nodeflow/")).status == 200
    assert "CheckpointLoader" in (await (await client.get("/nodeflow/object_info")).json())[
        "nodes"]


async def test_default_mode_keeps_nodeflow_names(client):
    info = await (await client.get("/object_info")).json()
    assert "CheckpointLoader" in info and "CheckpointLoaderSimple" not in info
    view = await (await client.get("/api/comfyui/object_info")).json()
    assert "CheckpointLoaderSimple" in view and "CheckpointLoader" not in view
    one = await (await client.get("/comfyui/object_info/EmptyLatentImage")).json()
    assert list(one["EmptyLatentImage"]["input"]["required"]) == ["width", "height",
                                                                 "batch_size"]
    assert await (await client.get("/comfyui/object_info/CheckpointLoader")).json() == {}


async def test_frontend_missing_is_a_sentence(monkeypatch, settings, registry):
    import importlib.util

    from nodeflow.server import routes_comfy_frontend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "comfyui_frontend_package"
                        else real(name, *a))
    with pytest.raises(routes_comfy_frontend.FrontendMissing, match="pip install"):
        create_app(settings, registry=registry, config=ServerConfig(frontend="comfyui"))
    assert Path(routes_comfy_frontend.OWN_EXTENSION_DIR, "compat.js").is_file()


async def test_node_errors_name_comfyuis_inputs(client):
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "x"}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                          "batch_size": 1}},
        "4": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
            "latent_image": ["3", 0], "seed": 1, "steps": 2, "cfg": 7.0,
            "sampler_name": "no_such_sampler", "scheduler": "normal", "denoise": 1.0}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0],
                                                    "filename_prefix": "x"}},
    }
    response = await client.post("/api/prompt", json={"prompt": prompt, "client_id": "c"})
    assert response.status == 400
    errors = (await response.json())["node_errors"]
    assert list(errors) == ["4"] and errors["4"]["class_type"] == "KSampler"
    assert errors["4"]["errors"][0]["extra_info"]["input_name"] == "sampler_name"
    assert errors["4"]["errors"][0]["details"].startswith("node '4', input 'sampler_name': ")


async def test_serve_says_how_to_install_a_missing_frontend(monkeypatch, settings, capsys):
    import importlib.util

    from nodeflow.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "comfyui_frontend_package"
                        else real(name, *a))
    code = main(["serve", "--frontend", "comfyui", "--base-dir", str(settings.base_dir),
                 "--port", "0"])
    assert code == 2
    assert "pip install 'nodeflow[comfyui-frontend]'" in capsys.readouterr().err


async def test_settings_stored_at_once_are_all_kept(client):
    import asyncio

    ids = [f"Test.Setting{i}" for i in range(12)]
    await asyncio.gather(*(client.post(f"/api/settings/{i}", data=json.dumps(n))
                           for n, i in enumerate(ids)))
    stored = await (await client.get("/api/settings")).json()
    assert [stored[i] for i in ids] == list(range(12))
