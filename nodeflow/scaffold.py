"""`nodeflow new-pack NAME`: a pip-installable node pack that works from the first minute."""
from __future__ import annotations

import re
from pathlib import Path

PYPROJECT = '''[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "0.1.0"
description = "Nodes for nodeflow"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["nodeflow>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.24"]

# nodeflow finds the pack through this entry point once it is pip-installed.
[project.entry-points."nodeflow.nodes"]
{module} = "{module}"

[tool.hatch.build.targets.wheel]
packages = ["{module}"]

[tool.pytest.ini_options]
pythonpath = ["."]
asyncio_default_fixture_loop_scope = "function"  # async node tests; no deprecation warning
'''

INIT = '''"""{name}: nodes for nodeflow. Shows the parts of a pack: a node with its own
validation hook, an HTTP route (served under /packs/{module}/) and, in web/, an editor
extension that receives the node's messages."""
from aiohttp import web

from nodeflow import Field, NodeError, node

__version__ = "0.1.0"
MAX_CHARS = 10_000


def check_repeat(text: str = "", repeat: int = 1):
    """The node's own check: it runs with every other validation, before anything runs."""
    if len(text) * repeat > MAX_CHARS:
        return f"the text repeated {{repeat}} times is longer than {{MAX_CHARS}} characters"
    return None


@node(category="{module}", version="1.0.0", validate=check_repeat)
def {node_name}(text: str = Field("hello", multiline=True),
{indent}repeat: int = Field(2, ge=1, le=100), *, ctx) -> str:
    """Repeat a text: replace this with your first node."""
    if not text:
        raise NodeError("the text is empty", input="text")
    ctx.send("{module}.repeated", {{"node": ctx.node_id, "times": repeat}})
    return " ".join([text] * repeat)


ROUTES = web.RouteTableDef()


@ROUTES.get("/info")
async def info(request: web.Request) -> web.Response:
    """GET /packs/{module}/info: the pack's name and version, for its editor extension."""
    return web.json_response({{"pack": "{name}", "version": __version__}})
'''

EXTENSION = '''// The editor extension of {name}: nodeflow imports every .js file in this folder and
// calls its setup() with the extension API (see nodeflow's docs/custom-nodes.md).
export function setup(nodeflow) {{
  // what {node_name} sends with ctx.send(...)
  nodeflow.onMessage("{module}.repeated", (data) => {{
    nodeflow.notify(`node ${{data.node}} repeated its text ${{data.times}} times`);
  }});
  // an entry in the node's right-click menu
  nodeflow.addNodeMenuItem({{
    label: "Repeat once more", types: ["{node_name}"],
    callback: (node) => node.setValue("repeat", Math.min(100, node.values.repeat + 1)),
  }});
  // every node type the editor has (now and after a reload), every node that joins the graph
  const mine = new Set();
  nodeflow.onNodeTypeRegistered((type, schema) => {{
    if (schema.pack === "{module}") mine.add(type);
  }});
  nodeflow.onNodeCreated((node) => {{
    if (mine.has(node.type)) console.debug(`{name}: ${{node.type}} added`);
  }});
  // a panel with a toolbar button, filled from the pack's own route
  nodeflow.addSidebarPanel({{
    id: "{module}", title: "{name}",
    render: async (element) => {{
      const info = await (await fetch("/packs/{module}/info")).json();
      element.textContent = `${{info.pack}} ${{info.version}}`;
    }},
  }});
}}
'''

TEST = '''"""Every node of the pack against nodeflow's node contract, plus its own behaviour."""
import asyncio
import json

from aiohttp.test_utils import make_mocked_request
from nodeflow.testing import NodeContract, run_node

from {module} import {node_name}, check_repeat, info


class Test{node_name}(NodeContract):
    node = {node_name}
    sample_inputs = {{"text": "hi", "repeat": 3}}


def test_{snake}_repeats_and_tells_the_editor():
    outputs, _, events = run_node({node_name}, {{"text": "hi", "repeat": 3}})
    assert outputs == {{"string": "hi hi hi"}}
    assert [e.data["event"] for e in events if e.kind == "message"] == ["{module}.repeated"]


def test_validate_hook():
    assert check_repeat("hi", 3) is None
    assert "longer than" in check_repeat("x" * 200, 100)


def test_info_route():
    response = asyncio.run(info(make_mocked_request("GET", "/packs/{module}/info")))
    assert json.loads(response.text) == {{"pack": "{name}", "version": "0.1.0"}}
'''

README = '''# {name}

Nodes for [nodeflow](https://pypi.org/project/nodeflow/).

```bash
pip install -e '.[test]'   # nodeflow finds the pack through its entry point
nodeflow nodes             # lists {node_name} under "{module}"
pytest -q                  # the node contract kit and the pack's own tests
nodeflow serve --dev       # the editor; edits to the pack reload while it runs
```

- `{module}/__init__.py`: the node `{node_name}` with its `validate` hook, and `ROUTES`
  (served at `/packs/{module}/info`).
- `{module}/web/{module}.js`: the editor extension (a message handler, a node menu entry,
  a sidebar panel).
- `tests/test_nodes.py`: the contract kit and the pack's own tests.

Write more nodes with `@node` and import them in `{module}/__init__.py`: nodeflow registers
every node the package exposes. See nodeflow's docs/custom-nodes.md.
'''


def module_name(name: str) -> str:
    module = re.sub(r"[^0-9a-zA-Z_]", "_", name).lower()
    return module if module[:1].isalpha() else f"pack_{module}"


def scaffold(name: str, parent: Path) -> Path:
    """Write the pack into ``parent/name``; refuses to touch an existing folder."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", name):
        raise ValueError(f"{name!r} is not a valid package name (letters, digits, '.', '_', '-')")
    root = parent / name
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    module = module_name(name)
    node_name = "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]", name) if part)
    node_name = (node_name or "My") + "Repeat"
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", node_name).lower()
    values = {"name": name, "module": module, "node_name": node_name, "snake": snake,
              "indent": " " * (len(node_name) + 5)}
    files = {"pyproject.toml": PYPROJECT, f"{module}/__init__.py": INIT,
             f"{module}/web/{module}.js": EXTENSION, "tests/test_nodes.py": TEST,
             "README.md": README}
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return root
