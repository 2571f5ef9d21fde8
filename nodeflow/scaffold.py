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
test = ["pytest>=8"]

# nodeflow finds the pack through this entry point once it is pip-installed.
[project.entry-points."nodeflow.nodes"]
{module} = "{module}"

[tool.hatch.build.targets.wheel]
packages = ["{module}"]
'''

INIT = '''"""{name}: nodes for nodeflow."""
from nodeflow import Field, NodeError, node

__version__ = "0.1.0"


@node(category="{module}", version="1.0.0")
def {node_name}(text: str = Field("hello", multiline=True),
{indent}repeat: int = Field(2, ge=1, le=100)) -> str:
    """Repeat a text: replace this with your first node."""
    if not text:
        raise NodeError("the text is empty", input="text")
    return " ".join([text] * repeat)
'''

TEST = '''"""Every node of the pack against nodeflow's node contract, plus its own behaviour."""
from nodeflow.testing import NodeContract

from {module} import {node_name}


class Test{node_name}(NodeContract):
    node = {node_name}
    sample_inputs = {{"text": "hi", "repeat": 3}}


def test_{snake}_repeats():
    assert {node_name}.fn("hi", 3) == "hi hi hi"
'''

README = '''# {name}

Nodes for [nodeflow](https://pypi.org/project/nodeflow/).

```bash
pip install -e '.[test]'   # nodeflow finds the pack through its entry point
nodeflow nodes             # lists {node_name} under "{module}"
pytest -q                  # the node contract kit and the pack's own tests
```

Write nodes in `{module}/` with `@node` and import them in `{module}/__init__.py`: nodeflow
registers every node the package exposes. See nodeflow's docs/custom-nodes.md.
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
             "tests/test_nodes.py": TEST, "README.md": README}
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return root
