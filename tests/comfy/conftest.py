import pytest


@pytest.fixture(autouse=True)
def no_comfy_shims_after():
    """Loading ComfyUI packs in this process installs the shim modules (``server``,
    ``nodes``, ...); take them out after each test so later test folders (tests/server is
    imported as ``server``) import their own modules."""
    yield
    from nodeflow.comfy_compat.shims import uninstall

    uninstall()
