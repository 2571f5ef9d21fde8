"""The server's background warm-up (nodeflow/server/warm_imports.py) leaves a first run on an
SD checkpoint nothing of the model stack to import or parse."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import txt2img

ROOT = Path(__file__).resolve().parents[2]

FIRST_RUN = """
import json, sys
from pathlib import Path
from nodeflow.engine.executor import Executor
from nodeflow.plugins import load_registry
from nodeflow.server import create_app
from nodeflow.server.warm_imports import warm_first_run
from nodeflow.settings import Settings
from nodeflow.workflow import parse_workflow

settings = Settings(base_dir=Path(sys.argv[1]))
create_app(settings)
registry = load_registry(settings)
workflow = parse_workflow(json.loads(Path(sys.argv[2]).read_text()))
warm_first_run()
from nodeflow.diffusion.tokenizer import load_clip_tokenizer
parsed = load_clip_tokenizer.cache_info().currsize
before = set(sys.modules)
result = Executor(registry, settings).run(workflow)
stack = ("nodeflow.", "torch", "diffusers", "transformers", "ftfy", "PIL.Png")
late = sorted(m for m in set(sys.modules) - before if m.startswith(stack))
print(json.dumps({"status": result.status, "tokenizers": parsed,
                  "tokenizers_after": load_clip_tokenizer.cache_info().currsize, "late": late}))
"""


def test_a_first_run_after_the_warm_up_imports_nothing_more(base, tmp_path):
    workflow = tmp_path / "txt2img.json"
    workflow.write_text(json.dumps(txt2img(steps=1)))
    out = subprocess.run([sys.executable, "-c", FIRST_RUN, str(base), str(workflow)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"status": "success", "tokenizers": 1, "tokenizers_after": 1, "late": []}
