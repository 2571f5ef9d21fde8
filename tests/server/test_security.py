"""Cross-site requests, DNS rebinding, the access token, confined paths, upload limits,
content types, and errors that never carry a traceback."""
from __future__ import annotations

import os

import aiohttp
import pytest

from .conftest import png_bytes, queue, txt2img

pytestmark = pytest.mark.asyncio

WORKFLOW = {"nodeflow": 1, "nodes": {}}


def form(data: bytes, filename: str = "cat.png", **fields) -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("image", data, filename=filename, content_type="image/png")
    for key, value in fields.items():
        body.add_field(key, value)
    return body


def raw_form(data: bytes, filename: str, **fields) -> tuple[bytes, dict]:
    """A multipart body written by hand: aiohttp's client would percent-encode a "/" in the
    file name, a hostile client does not."""
    boundary = "----nodeflowtest"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
             f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode() + data]
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"'
                     f'\r\n\r\n{value}'.encode())
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# -- cross-site requests (CVE-2024-10481) and DNS rebinding ---------------------------------

async def test_foreign_origin_is_refused_for_unsafe_methods(client):
    evil = {"Origin": "http://evil.example"}
    assert (await client.post("/prompt", json={"prompt": txt2img()}, headers=evil)).status == 403
    assert (await client.post("/interrupt", headers=evil)).status == 403
    assert (await client.put("/workflows/a", json=WORKFLOW, headers=evil)).status == 403
    assert (await client.delete("/workflows/a", headers=evil)).status == 403
    assert (await client.post("/upload/image", data=form(png_bytes()), headers=evil)).status \
        == 403
    other_port = {"Origin": f"http://127.0.0.1:{client.port + 1}"}
    assert (await client.post("/queue", json={"clear": True}, headers=other_port)).status == 403
    assert (await client.post("/queue", json={"clear": True},
                              headers={"Origin": "null"})).status == 403
    assert (await client.get("/queue")).status == 200
    assert (await (await client.get("/queue")).json())["queue_pending"] == []


async def test_same_origin_and_no_origin_are_accepted(client):
    same = {"Origin": f"http://127.0.0.1:{client.port}"}
    assert (await client.post("/queue", json={"clear": True}, headers=same)).status == 200
    assert (await client.post("/queue", json={"clear": True})).status == 200


async def test_foreign_origin_cannot_open_the_websocket(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/ws", headers={"Origin": "http://evil.example"})
    assert caught.value.status == 403


async def test_loopback_server_refuses_a_foreign_host_name(client):
    response = await client.get("/queue", headers={"Host": f"evil.example:{client.port}"})
    assert response.status == 403
    response = await client.get("/queue", headers={"Host": f"localhost:{client.port}"})
    assert response.status == 200


# -- the access token ---------------------------------------------------------------------------

async def test_token_is_required_on_every_route_and_the_websocket(aiohttp_client, make_app):
    client = await aiohttp_client(make_app(host="0.0.0.0", token="s3cret"))
    for path in ("/", "/queue", "/object_info", "/view?filename=x.png", "/openapi.json",
                 "/api/system_stats", "/workflows"):
        response = await client.get(path)
        assert response.status == 401, path
        assert "error" in await response.json()
    assert (await client.post("/prompt", json={"prompt": txt2img()})).status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect("/ws")
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.get("/queue", headers=wrong)).status == 401
    right = {"Authorization": "Bearer s3cret"}
    assert (await client.get("/queue", headers=right)).status == 200
    assert (await client.post("/prompt", json={"prompt": txt2img()}, headers=right)).status \
        == 200
    ws = await client.ws_connect("/ws?clientId=a&token=s3cret")
    assert (await ws.receive_json())["type"] == "status"
    await ws.close()


async def test_token_in_the_link_sets_a_cookie_for_the_editor(aiohttp_client, make_app):
    client = await aiohttp_client(make_app(host="0.0.0.0", token="s3cret"))
    response = await client.get("/system_stats?token=s3cret")
    assert response.status == 200
    cookie = response.cookies["nodeflow_token"]
    assert cookie.value == "s3cret" and cookie["httponly"]
    assert (await client.get("/queue")).status == 200  # the client's cookie jar sends it


async def test_serve_generates_a_token_off_loopback(monkeypatch, settings, capsys):
    from aiohttp import web

    from nodeflow.server import main

    seen = {}
    monkeypatch.setattr(web, "run_app", lambda app, **kw: seen.update(app=app, **kw))
    assert main.serve(settings, host="0.0.0.0", port=9) == 0
    from nodeflow.server.state import CONFIG
    token = seen["app"][CONFIG].token
    assert token and len(token) >= 24 and token in capsys.readouterr().err
    assert main.serve(settings, host="127.0.0.1", port=9) == 0
    assert seen["app"][CONFIG].token is None


# -- confined paths -----------------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    return secret


async def test_view_rejects_names_that_leave_the_folder(client, settings, outside):
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    (settings.output_dir / "link.png").symlink_to(outside)
    (settings.output_dir / "linkdir").symlink_to(outside.parent, target_is_directory=True)
    attempts = [
        "/view?filename=../../secret.png",
        "/view?filename=secret.png&subfolder=../..",
        f"/view?filename={outside}",
        "/view?filename=x.png&subfolder=/etc",
        "/view?filename=%2e%2e%2f%2e%2e%2fsecret.png",
        "/view?filename=..%5c..%5csecret.png",
        "/view?filename=secret.png%00.png",
        "/view?filename=link.png",
        "/view?filename=secret.png&subfolder=linkdir",
        "/view?filename=secret.png&type=../..",
    ]
    for path in attempts:
        response = await client.get(path)
        assert response.status == 400, path
        assert (await response.read()) != outside.read_bytes()
    double = await client.get("/view?filename=%252e%252e%252fsecret.png")
    assert double.status == 404  # stays a literal (missing) name inside output/


async def test_upload_rejects_names_that_leave_the_folder(client, settings, tmp_path):
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    (settings.input_dir / "out").symlink_to(tmp_path, target_is_directory=True)
    cases = [({"filename": "../escape.png"}, {}),
             ({"filename": "/tmp/escape.png"}, {}),
             ({"filename": "a/../../escape.png"}, {}),
             ({"filename": "ok.png"}, {"subfolder": "../.."}),
             ({"filename": "ok.png"}, {"subfolder": "/tmp"}),
             ({"filename": "ok.png"}, {"subfolder": "out"}),
             ({"filename": "ok.png"}, {"type": "../models"})]
    for name, fields in cases:
        body, headers = raw_form(png_bytes(), name["filename"], **fields)
        response = await client.post("/upload/image", data=body, headers=headers)
        assert response.status == 400, (name, fields)
        expected = "bad_request" if "type" in fields else "invalid_path"
        assert (await response.json())["error"]["type"] == expected, (name, fields)
    # what aiohttp's own client sends for "../x.png" is a literal name that stays inside
    response = await client.post("/upload/image", data=form(png_bytes(), "../x.png"))
    assert (await response.json())["name"] == "..%2Fx.png"
    assert (settings.input_dir / "..%2Fx.png").is_file()
    assert not list(tmp_path.glob("*.png")) and not (tmp_path.parent / "escape.png").exists()


async def test_workflows_reject_names_that_leave_the_folder(client, settings, tmp_path):
    settings.workflows_dir.mkdir(parents=True)
    (tmp_path / "outside.json").write_text('{"nodeflow": 1, "nodes": {}}')
    (settings.workflows_dir / "link.json").symlink_to(tmp_path / "outside.json")
    for name in ("..%2F..%2Foutside", "sub%2F..%2F..%2F..%2Foutside", "%2Fetc%2Fpasswd",
                 "a%00b", "link", "..%5Coutside"):
        for method in ("GET", "PUT", "DELETE"):
            kwargs = {"json": WORKFLOW} if method == "PUT" else {}
            response = await client.request(method, f"/workflows/{name}", **kwargs)
            assert response.status == 400, (method, name, response.status)
            assert (await response.json())["error"]["type"] == "invalid_path"
    assert (tmp_path / "outside.json").read_text() == '{"nodeflow": 1, "nodes": {}}'
    # a raw ../ in the URL path is normalised away by the router: it never reaches a handler
    for path in ("/workflows/../../outside", "/workflows/%2e%2e/%2e%2e/outside"):
        assert (await client.get(path)).status == 404
        assert (await client.put(path, json=WORKFLOW)).status == 405


# -- upload limits ------------------------------------------------------------------------------

async def test_upload_limits(aiohttp_client, make_app, settings):
    client = await aiohttp_client(make_app(max_upload_bytes=20_000, max_upload_pixels=64 * 64))
    ok = await client.post("/upload/image", data=form(png_bytes((64, 64))))
    assert ok.status == 200
    too_many_pixels = await client.post("/upload/image", data=form(png_bytes((65, 64))))
    assert too_many_pixels.status == 413
    assert (await too_many_pixels.json())["error"]["type"] == "too_large"
    too_big = await client.post("/upload/image", data=form(os.urandom(30_000)))
    assert too_big.status == 413
    not_image = await client.post("/upload/image", data=form(b"<script>alert(1)</script>",
                                                             filename="x.png"))
    assert not_image.status == 400
    assert (await not_image.json())["error"]["type"] == "not_an_image"
    truncated = await client.post("/upload/image", data=form(png_bytes((32, 32))[:60]))
    assert truncated.status == 400
    html_name = await client.post("/upload/image", data=form(png_bytes(), filename="x.html"))
    assert html_name.status == 400
    assert sorted(p.name for p in settings.input_dir.iterdir()) == ["cat.png"]


# -- content types and headers ------------------------------------------------------------------

async def test_files_are_served_with_their_type_and_nosniff(client, settings):
    settings.output_dir.mkdir(parents=True)
    (settings.output_dir / "a.png").write_bytes(png_bytes())
    (settings.output_dir / "page.html").write_text("<script>alert(1)</script>")
    response = await client.get("/view?filename=a.png")
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response = await client.get("/view?filename=page.html")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    response = await client.get("/queue")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_unexpected_errors_are_json_without_traceback(aiohttp_client, make_app,
                                                            registry, caplog):
    def broken(settings=None):
        raise RuntimeError("secret internals at /home/me/.config")

    registry.schemas = broken
    client = await aiohttp_client(make_app())
    response = await client.get("/object_info")
    assert response.status == 500
    text = await response.text()
    assert "Traceback" not in text and "secret internals" not in text
    assert (await response.json())["error"]["type"] == "internal_error"
    assert "secret internals" in caplog.text  # the server log has it
    missing = await client.get("/api/no/such/route")
    assert missing.status == 404 and "error" in await missing.json()


async def test_queue_keeps_working_after_a_rejected_request(client):
    await client.post("/prompt", json={"prompt": {"nodeflow": 1, "nodes": {"x": 5}}})
    prompt_id = await queue(client, txt2img())
    assert prompt_id
