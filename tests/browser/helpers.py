"""Driving the editor the way a user does: pointer and keyboard on the page. Positions of
slots and widgets come from the editor itself (window.nodeflow.editor)."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import quote, urljoin

from playwright.sync_api import Page, expect


def workflow(page: Page) -> dict:
    return page.evaluate("nodeflow.currentWorkflow()")


def node_types(page: Page) -> dict[str, str]:
    return {nid: node["type"] for nid, node in workflow(page)["nodes"].items()}


def links(page: Page) -> set[tuple[str, str, str, str]]:
    """(from node type, output, to node type, input) for every link."""
    nodes = workflow(page)["nodes"]
    return {(nodes[v["node"]]["type"], v["output"], node["type"], name)
            for node in nodes.values() for name, v in node.get("inputs", {}).items()
            if isinstance(v, dict) and set(v) == {"node", "output"}}


def canvas_point(page: Page, fx: float, fy: float) -> tuple[float, float]:
    box = page.locator("#canvas").bounding_box()
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def new_id(page: Page, before: set[str]) -> str:
    added = set(workflow(page)["nodes"]) - before
    assert len(added) == 1, added
    return added.pop()


def add_by_search(page: Page, query: str, node_type: str, at: tuple[float, float]) -> str:
    """Double-click the empty canvas at ``at``, type, pick ``node_type``; returns its id."""
    before = set(workflow(page)["nodes"])
    box = page.locator(".node-search input")
    for _ in range(3):  # the canvas tells a double click by timing: retry on a busy machine
        page.mouse.dblclick(*at)
        try:
            expect(box).to_be_focused(timeout=2000)
            break
        except AssertionError:
            page.keyboard.press("Escape")  # a box that opened late: close it, try again
            continue
    expect(box).to_be_focused()
    page.keyboard.type(query)
    click_on(page, page.locator(f'.node-search li[data-type="{node_type}"]'))
    return new_id(page, before)


def click_on(page: Page, locator, button: str = "left") -> None:
    """Move the pointer to the middle of what ``locator`` shows and click there."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, button=button)


def add_by_menu(page: Page, category: str, title: str, at: tuple[float, float]) -> str:
    """Right-click the empty canvas at ``at``: Add Node > category > title."""
    before = set(workflow(page)["nodes"])
    page.mouse.click(*at, button="right")
    menu_entry(page, "Add Node").click()
    for part in category.split("/"):
        menu_entry(page, part).click()
    menu_entry(page, title).click()
    return new_id(page, before)


def menu_entry(page: Page, text: str):
    exact = re.compile(f"^{re.escape(text)}$")
    return page.locator(".litecontextmenu .litemenu-entry").filter(has_text=exact).last


def point(page: Page, expression: str) -> tuple[float, float]:
    p = page.evaluate(expression)
    return p["x"], p["y"]


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def connect(page: Page, src: str, output: str, dst: str, input_name: str) -> None:
    start = point(page, f"nodeflow.editor.slotPoint({json.dumps(src)}, {json.dumps(output)}, false)")
    end = point(page, f"nodeflow.editor.slotPoint({json.dumps(dst)}, {json.dumps(input_name)}, true)")
    drag(page, start, end)


def widget_point(page: Page, node: str, widget: str | None = None) -> tuple[float, float]:
    return point(page, f"nodeflow.editor.widgetPoint({json.dumps(node)}, {json.dumps(widget)})")


def type_value(page: Page, node: str, widget: str, value: str) -> None:
    """Click a number or text widget in its middle and type the value into the dialog."""
    page.mouse.click(*widget_point(page, node, widget))
    field = page.locator(".graphdialog input.value, .graphdialog textarea.value").last
    expect(field).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def choose(page: Page, node: str, widget: str, value: str) -> None:
    """Open a combo widget's list and pick ``value``."""
    page.mouse.click(*widget_point(page, node, widget))
    menu_entry(page, value).click()


def inputs(page: Page, node: str) -> dict:
    return workflow(page)["nodes"][node].get("inputs", {})


def of_type(page: Page, node_type: str) -> str:
    """The id of the (first) node of ``node_type``."""
    return next(n for n, t in node_types(page).items() if t == node_type)


def downloaded(page: Page) -> dict:
    """Click Download; the workflow file the browser saved, parsed."""
    with page.expect_download() as info:
        page.get_by_role("button", name="Download", exact=True).click()
    return json.loads(open(info.value.path(), encoding="utf-8").read())


def type_prompt(page: Page, node: str, text: str) -> None:
    """Click a prompt box, select what it holds, type ``text``, click away to commit."""
    page.mouse.click(*widget_point(page, node, "text"))
    area = page.locator("textarea.prompt-editor")
    expect(area).to_be_focused()
    page.keyboard.press("Control+a")
    page.keyboard.type(text)
    page.mouse.click(*canvas_point(page, 0.5, 0.95))
    expect(area).to_have_count(0)


def right_click_node(page: Page, node: str) -> None:
    page.mouse.click(*widget_point(page, node), button="right")


def run_and_wait(page: Page, timeout: float = 120.0) -> list[dict]:
    """Queue with Ctrl+Enter, then wait until the server's history has that run's result and
    the page shows it; the run's images (filename, subfolder, type)."""
    shown = page.get_by_role("status").filter(has_text="queued #").all_inner_texts()
    page.keyboard.press("Control+Enter")
    # the new toast is the one not shown before (an earlier one may go in the meantime: each
    # lives 3 s, so counting them raced); read while it is up
    toast = page.wait_for_function(
        "shown => [...document.querySelectorAll('#toasts [role=status]')].map((t) => t.textContent)"
        ".find((text) => text.startsWith('queued #') && !shown.includes(text))", arg=shown,
        timeout=10_000)
    number = int(toast.json_value().split("#")[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = page.request.get(urljoin(page.url, "/history?max_items=8")).json()
        done = [item for item in history.values() if item["prompt"][0] == number
                and item.get("status", {}).get("completed")]
        if done:
            image = done[0]["outputs"]
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError(f"run #{number} did not finish in {timeout} s")
    images = [i for out in image.values() for i in out.get("images", [])]
    names = [i["filename"] for i in images]
    page.wait_for_function("names => names.some((n) => document.querySelector("
                           "`#queue .gallery img[src*='${n}']`))", arg=names)
    return images


def image_bytes(page: Page, image: dict) -> bytes:
    """The file of one of a run's images, as the server gives it to the page."""
    query = "&".join(f"{key}={quote(str(image.get(key, '')))}"
                     for key in ("filename", "subfolder", "type"))
    return page.request.get(urljoin(page.url, f"/view?{query}")).body()


def open_file(page: Page, doc: dict, name: str = "workflow.json") -> None:
    """Open ``doc`` as a user does: the Open button, then the file in the file chooser."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Open", exact=True).click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "application/json",
                                    "buffer": json.dumps(doc).encode()}])
    expect(page.get_by_role("status").filter(has_text=f"opened {name}").last).to_be_visible()
    settle(page)


def settle(page: Page) -> None:
    """Wait until the canvas has drawn twice: positions read before that can be a frame old."""
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def graph_to_client(page: Page, x: float, y: float) -> tuple[float, float]:
    """Where the graph point (x, y) is on the screen, from the canvas's view."""
    view = page.evaluate("nodeflow.editor.readView()")
    box = page.locator("#canvas").bounding_box()
    return (box["x"] + (x + view["offset"][0]) * view["scale"],
            box["y"] + (y + view["offset"][1]) * view["scale"])


def empty_point(page: Page) -> tuple[float, float]:
    """A point on the canvas with no node under it (the view of the graph may vary)."""
    for fy in (0.85, 0.95, 0.7, 0.5, 0.3, 0.1):
        for fx in (0.5, 0.3, 0.7, 0.1, 0.9):
            x, y = canvas_point(page, fx, fy)
            if page.evaluate(f"nodeflow.editor.describeAt({x}, {y})") is None:
                return x, y
    raise AssertionError("no empty place on the canvas")


def open_editor(browser, url: str) -> Page:
    """The editor of another server than the shared page's (one with test packs), in a
    browser context of its own; its page errors are collected in ``page.errors``. Close it
    with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": 1400, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]")
    return page
