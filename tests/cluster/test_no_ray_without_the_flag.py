"""Ray is optional: nothing imports it unless `serve --ray` is given."""
import subprocess
import sys
from pathlib import Path

from tests.server.live import Live, quick, status_of

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_server_and_the_cli_and_making_the_app_never_loads_ray(tmp_path):
    code = ("import sys\n"
            "from nodeflow.cli import main\n"
            "from nodeflow.server import create_app\n"
            "from nodeflow.server.main import serve\n"
            "from nodeflow.cluster import capabilities, fanout, files, launch, scheduler\n"
            "from nodeflow.settings import Settings\n"
            f"create_app(Settings.from_args({str(tmp_path)!r}))\n"
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_serve_without_the_flag_runs_prompts_without_loading_ray(tmp_path):
    live = Live(tmp_path / "home").start()
    try:
        entry = live.wait_done(live.queue(quick()))
        maps = Path(f"/proc/{live.process.pid}/maps").read_text()
    finally:
        live.stop()
    assert status_of(entry) == "success"
    assert "_raylet" not in maps and "/ray/" not in maps


def test_ray_workers_without_ray_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nodeflow", "serve", "--base-dir",
                           str(tmp_path), "--ray-workers", "2"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2 and "--ray-workers needs --ray" in done.stderr
    assert "Traceback" not in done.stderr


def test_dev_with_ray_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nodeflow", "serve", "--base-dir",
                           str(tmp_path), "--ray", "--dev"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2 and "cannot be used with --ray" in done.stderr


def test_ray_missing_says_which_extra_to_install(tmp_path):
    code = ("import sys\nsys.modules['ray'] = None  # as if the extra were not installed\n"
            "from nodeflow.cli import main\n"
            f"sys.exit(main(['serve', '--base-dir', {str(tmp_path)!r}, '--port', '0', "
            "'--ray']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "pip install 'nodeflow[ray]'" in done.stderr and "Traceback" not in done.stderr
