"""Issue 13, points 2, 9, 11 and 13, against a real server process: hostile values get a 4xx
that names the problem (never a 500 or a traceback), and no request changes what later
requests get, across a restart too."""
from __future__ import annotations

import json
import sqlite3
import urllib.parse

import pytest

from .live import Live, one_node, quick, status_of


def strict_json(text: str):
    """JSON as a browser's JSON.parse reads it: no NaN or Infinity."""
    def refuse(name):
        raise AssertionError(f"{name} in a response")
    return json.loads(text, parse_constant=refuse)


def raw_prompt(live: Live, text: str, headers: dict | None = None):
    return live.request("POST", "/prompt", raw=text.encode("utf-8", "surrogatepass"),
                        headers={"Content-Type": "application/json", **(headers or {})})


def assert_refused(response, status: int, *words: str):
    code, body = response
    assert code == status, (code, body)
    assert isinstance(body, dict) and "error" in body, body
    message = json.dumps(body)
    assert "Traceback" not in message
    for word in words:
        assert word in message, (word, body)


QUICK = json.dumps(quick())


@pytest.fixture
def live(live_server):
    return live_server()


def test_a_non_finite_or_huge_number_cannot_poison_the_queue(live):
    assert_refused(raw_prompt(live, f'{{"prompt": {QUICK}, "number": 1e400}}'), 400,
                   "too large")
    assert_refused(raw_prompt(live, f'{{"prompt": {QUICK}, "number": NaN}}'), 400, "NaN")
    assert_refused(raw_prompt(live, f'{{"prompt": {QUICK}, "number": -Infinity}}'), 400,
                   "Infinity")
    assert_refused(raw_prompt(live, f'{{"prompt": {QUICK}, "number": 1e300}}'), 400,
                   "number must lie between")
    first = live.queue(quick())
    assert status_of(live.wait_done(first)) == "success"
    live.stop()
    live.start()
    second = live.queue(quick())
    assert status_of(live.wait_done(second)) == "success"
    for path in ("/history", "/queue", f"/history/{second}"):
        status, _ = live.request("GET", path)
        assert status == 200
        strict_json(live_text(live, path))


def test_a_database_poisoned_by_an_older_version_heals(live_server, tmp_path):
    live = live_server()
    live.wait_done(live.queue(quick()))
    live.stop()
    db = sqlite3.connect(live.base / "queue.sqlite3", isolation_level=None)
    db.execute("UPDATE prompts SET number = 1e400")  # what 1e400 became before the fix
    db.close()
    live.start()
    prompt_id = live.queue(quick())
    assert status_of(live.wait_done(prompt_id)) == "success"
    history = strict_json(live_text(live, "/history"))
    assert [entry["prompt"][0] for entry in history.values()] == [None, 0]


def live_text(live: Live, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(live.url + path, timeout=10) as response:
        return response.read().decode()


def test_hostile_values_get_a_4xx_that_names_the_problem(live):
    deep = {"a": None}
    for _ in range(900):
        deep = {"a": deep}
    nested = {"nodeflow": 1, "nodes": {"n": {"type": "Wait", "inputs": {}, "ui": deep}}}
    assert_refused(live.request("POST", "/prompt", {"prompt": nested}), 400, "nested")
    assert_refused(raw_prompt(live, f'{{"prompt": {QUICK}, "seed": {"9" * 5001}}}'), 400,
                   "5001 digits")
    assert_refused(raw_prompt(live, f'{{"prompt": {QUICK}, "prompt_id": "\\ud800x"}}'), 400,
                   "lone UTF-16 surrogate")
    text = one_node("WriteFile", name="a\udc80b.png")
    assert_refused(raw_prompt(live, json.dumps({"prompt": text})), 400,
                   "body.prompt.nodes.n.inputs.name", "surrogate")
    assert_refused(live.request("GET", "/history?max_items=9223372036854775808"), 400,
                   "max_items")
    assert_refused(live.request("GET", "/history?offset=99999999999999999999"), 400, "offset")
    assert_refused(live.request("POST", "/prompt", raw=b'{"prompt": {}}', headers={
        "Content-Type": "application/json; charset=no-such-charset"}), 400, "UTF-8")
    long_name = "n" * 300 + ".png"
    status, body = live.request("GET", "/view?" + urllib.parse.urlencode(
        {"filename": long_name}))
    assert 400 <= status < 500 and "error" in body, (status, body)
    assert_refused(live.request("PUT", "/workflows/" + "w" * 300, quick()), 400, "too long")
    assert live.process.poll() is None
    assert status_of(live.wait_done(live.queue(quick()))) == "success"


def multipart(filename: bytes, boundary: bytes = b"xyz") -> bytes:
    return (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"image\"; "
            b"filename=\"" + filename + b"\"\r\nContent-Type: image/png\r\n\r\n"
            + b"\x89PNG not really\r\n--" + boundary + b"--\r\n")


@pytest.mark.parametrize("body,ctype", [
    (b"garbage without any boundary", "multipart/form-data; boundary=xyz"),
    (b"--xyz\r\nno headers end", "multipart/form-data; boundary=xyz"),
    (multipart(b"a\x00b.png"), "multipart/form-data; boundary=xyz"),
    (multipart(b"p" * 300 + b".png"), "multipart/form-data; boundary=xyz"),
    (multipart(b"ok.png"), "multipart/form-data"),
])
def test_malformed_uploads_get_a_4xx(live, body, ctype):
    status, answer = live.request("POST", "/upload/image", raw=body,
                                  headers={"Content-Type": ctype})
    assert 400 <= status < 500, (status, answer)
    assert "error" in answer and "Traceback" not in json.dumps(answer)


def test_cross_site_requests_without_origin_are_refused(live):
    body = json.dumps({"prompt": quick()}).encode()
    for site in ("cross-site", "same-site"):
        assert_refused(live.request("POST", "/prompt", raw=body, headers={
            "Content-Type": "application/json", "Sec-Fetch-Site": site}), 403, site)
    # a browser's form or text body is not JSON, whoever sent it
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        assert_refused(live.request("POST", "/prompt", raw=body, headers={
            "Content-Type": ctype, "Sec-Fetch-Site": "same-origin"}), 415, "application/json")
    # the editor (same origin, JSON) and scripts (no browser headers, urllib's default
    # form type, as ComfyUI's own API example sends) still work
    status, _ = live.request("POST", "/prompt", raw=body, headers={
        "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin",
        "Origin": live.url})
    assert status == 200
    status, _ = live.request("POST", "/prompt", raw=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200


def test_a_file_saved_with_a_backslash_in_its_name_can_be_viewed(live):
    name = "back\\slash.png"
    entry = live.wait_done(live.queue(one_node("WriteFile", name=name, kib=1)))
    assert status_of(entry) == "success"
    assert (live.base / "output" / name).is_file()
    status, _ = live.request("GET", "/view?" + urllib.parse.urlencode({"filename": name}))
    assert status == 200
    for escape in ("..\\..\\queue.sqlite3", "/etc/passwd", "../queue.sqlite3"):
        status, _ = live.request("GET", "/view?" + urllib.parse.urlencode(
            {"filename": escape}))
        assert status in (400, 404), escape
