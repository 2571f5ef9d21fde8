"""Pack loading: built-ins, custom_nodes files and folders, entry points, and failures."""
from __future__ import annotations

import sys
import textwrap
from importlib.metadata import EntryPoint

from nodeflow import plugins
from nodeflow.plugins import load_entry_point, load_registry
from nodeflow.registry import Registry
from nodeflow.settings import Settings

GOOD = '''
from nodeflow import node

@node(category="custom")
def Double(x: int) -> int:
    """Twice x."""
    return 2 * x
'''


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_packs_load_through_the_same_loader(tmp_path):
    registry = load_registry(Settings(base_dir=tmp_path))
    assert registry.packs["core"].kind == "builtin"
    assert "PrimitiveInt" in registry and registry.get("PrimitiveInt").pack == "core"
    assert registry.failures == []


def test_custom_file_and_package(tmp_path):
    custom = tmp_path / "custom_nodes"
    write(custom, "doubler.py", GOOD)
    write(custom, "texty/__init__.py", "from .nodes import Shout\n__version__ = '0.3.0'\n")
    write(custom, "texty/nodes.py", '''
        from nodeflow import node

        @node(category="custom")
        def Shout(text: str) -> str:
            return text.upper()
        ''')
    write(custom, "off.py.disabled", GOOD)
    registry = load_registry(Settings(base_dir=tmp_path))
    assert registry.get("Double").pack == "doubler"
    assert registry.get("Shout").pack == "texty"
    assert registry.packs["texty"].version == "0.3.0"
    assert registry.get("Shout").fn("hi") == "HI"
    assert registry.failures == []


def test_broken_packs_are_reported_and_the_rest_loads(tmp_path):
    custom = tmp_path / "custom_nodes"
    write(custom, "a_syntax.py", "def broken(:\n")
    write(custom, "b_import.py", "import no_such_module_anywhere\n")
    write(custom, "c_raises.py", "x = 1\nraise RuntimeError('pack init failed')\n")
    write(custom, "d_exits.py", "import sys\nsys.exit(3)\n")
    write(custom, "e_good.py", GOOD)
    registry = load_registry(Settings(base_dir=tmp_path))
    reasons = {f.pack: f.reason for f in registry.failures}
    assert reasons["a_syntax"].startswith("SyntaxError: ") and "line 1" in reasons["a_syntax"]
    assert reasons["b_import"] == ("ModuleNotFoundError: No module named "
                                   "'no_such_module_anywhere' (at b_import.py:1)")
    assert reasons["c_raises"] == "RuntimeError: pack init failed (at c_raises.py:2)"
    assert reasons["d_exits"].startswith("SystemExit")
    assert "Double" in registry and "PrimitiveInt" in registry
    assert not any(name.startswith("nodeflow_custom_a_syntax") for name in sys.modules)


def test_two_packs_claiming_one_type_name_is_an_error_naming_both(tmp_path):
    custom = tmp_path / "custom_nodes"
    write(custom, "first.py", GOOD)
    write(custom, "second.py", GOOD)
    registry = load_registry(Settings(base_dir=tmp_path))
    [failure] = registry.failures
    assert failure.pack == "second"
    assert failure.reason == (
        f"node type 'Double' is defined by pack 'first' at {custom / 'first.py'} and again by "
        f"pack 'second' at {custom / 'second.py'}; kept the one from 'first' (rename the types "
        "in one of the packs, or remove one)")
    assert registry.get("Double").pack == "first"


def test_a_pip_pack_also_linked_into_custom_nodes_is_one_message(tmp_path, monkeypatch):
    """The pack a user pip-installs (editable) and also links into custom_nodes under the same
    name: one failure that names both places and says they are the same code, not one per
    node type."""
    source = tmp_path / "src" / "linked_pack"
    write(source, "__init__.py", GOOD + """
@node(category="custom")
def Triple(x: int) -> int:
    \"\"\"Three times x.\"\"\"
    return 3 * x
""")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    (tmp_path / "custom_nodes").mkdir()
    link = tmp_path / "custom_nodes" / "linked_pack"
    link.symlink_to(source)
    ep = EntryPoint(name="linked_pack", value="linked_pack", group="nodeflow.nodes")
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", lambda group: [ep])
    registry = load_registry(Settings(base_dir=tmp_path), builtin=False)
    [failure] = registry.failures
    assert failure.reason == (
        f"node types 'Double', 'Triple' are defined by pack 'linked_pack' at {source} and again "
        f"by pack 'linked_pack' at {link}; kept those from 'linked_pack' (the same code loaded "
        "twice: remove one of the two installs)")


def test_custom_pack_cannot_shadow_a_builtin(tmp_path):
    write(tmp_path / "custom_nodes", "mine.py", '''
        from nodeflow import node

        @node
        def PrimitiveInt(value: int) -> int:
            return value
        ''')
    registry = load_registry(Settings(base_dir=tmp_path))
    assert registry.get("PrimitiveInt").pack == "core"
    assert "'PrimitiveInt' is defined by pack 'core' at " in registry.failures[0].reason
    assert "again by pack 'mine' at " in registry.failures[0].reason


def test_entry_point_packs(tmp_path, monkeypatch):
    write(tmp_path / "site", "ep_pack_for_test.py", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = Registry()
    good = EntryPoint(name="doubler", value="ep_pack_for_test", group="nodeflow.nodes")
    bad = EntryPoint(name="ghost", value="no_such_pack_module", group="nodeflow.nodes")
    assert load_entry_point(registry, good)
    assert not load_entry_point(registry, bad)
    assert registry.get("Double").pack == "doubler"
    assert registry.failures[0].pack == "ghost"
    assert "No module named 'no_such_pack_module'" in registry.failures[0].reason


def test_a_pip_pack_prints_into_its_pack_info_not_stdout(tmp_path, monkeypatch, capsys):
    write(tmp_path / "site" / "chatty_ep_pack", "__init__.py", 'print("chatty: loaded")\n' + GOOD
          + '''
from aiohttp import web
ROUTES = web.RouteTableDef()


@ROUTES.get("/ping")
async def ping(request):
    return web.json_response("pong")
''')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry = Registry()
    ep = EntryPoint(name="chatty", value="chatty_ep_pack:Double", group="nodeflow.nodes")
    assert load_entry_point(registry, ep)
    assert capsys.readouterr().out == ""
    info = registry.packs["chatty"]
    assert info.import_output == "chatty: loaded\n"
    assert [r.path for r in info.routes] == ["/ping"]  # served under /packs/chatty/
    assert registry.get("Double").pack == "chatty"
    assert registry.sources["chatty"] == str(tmp_path / "site" / "chatty_ep_pack")
