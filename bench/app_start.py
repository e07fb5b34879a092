"""How fast a web worker is ready: building the app, and replacing a killed gunicorn worker.

Prints, in one run on this machine:
- the wall and CPU time of `import bot; create_app()` in a fresh Python process (what
  a worker pays without preload), median of --builds runs: with the bytecode compiled,
  as `uv sync --locked --compile-bytecode` installs it (here into a throwaway
  PYTHONPYCACHEPREFIX, filled by one build first), and with no bytecode at all;
- the time from SIGKILL of a gunicorn worker until its replacement answers /healthz,
  with deploy/gunicorn.conf.py (preload_app: the app is built once, before the fork)
  and, for comparison, without preload.

    uv run python bench/app_start.py [--builds 5] [--kills 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BUILD = (
    "import resource, time; t = time.perf_counter(); from bot import create_app; create_app();"
    " u = resource.getrusage(resource.RUSAGE_SELF);"
    " print(time.perf_counter() - t, u.ru_utime + u.ru_stime)"
)


def environment(folder: Path) -> dict[str, str]:
    """A worker's environment, bytecode written to and read from a throwaway folder."""
    skip = ("FARMHELP_", "WECHAT_", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(
        PYTHONPYCACHEPREFIX=str(folder / "bytecode"),
        FARMHELP_DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite3'}",
        FARMHELP_INSTANCE_DIR=str(folder),
        FARMHELP_SECRET_KEY="bench-secret-key-0123456789",
        WECHAT_TOKEN="benchtoken123",
    )
    return env


def build_times(env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of building the app in a fresh process."""
    walls, cpus = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", BUILD], env=env, cwd=ROOT, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        wall, cpu = (float(v) for v in out.stdout.split()[-2:])
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replacement_times(env: dict[str, str], kills: int, preload: bool) -> list[float]:
    """Seconds from SIGKILL of the only worker until a new one answers, `kills` times."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--log-level", "warning"]
    if preload:
        command += ["-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    command += ["-w", "1", "-b", f"127.0.0.1:{port}", "bot:create_app()"]
    master = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}/healthz"
    try:
        wait_until_answered(base)
        waits = []
        for _ in range(kills):
            found = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True)
            os.kill(int(found.stdout.split()[0]), signal.SIGKILL)
            killed = time.monotonic()
            wait_until_answered(base)
            waits.append(time.monotonic() - killed)
        return waits
    finally:
        master.terminate()
        master.wait(timeout=30)


def wait_until_answered(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            time.sleep(0.01)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--builds", type=int, default=5)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = environment(Path(folder))
        subprocess.run(
            [sys.executable, "-c", "from bot.cli import main; main()", "db", "upgrade"],
            env=env,
            cwd=ROOT,
            check=False,
            capture_output=True,
        )
        build_times(env, 1)  # compiles every module once, as an installation does
        uncompiled = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
        uncompiled.pop("PYTHONPYCACHEPREFIX")
        for label, where in (("bytecode compiled", env), ("no bytecode", uncompiled)):
            wall, cpu = build_times(where, args.builds)
            print(
                f"build the app in a fresh process, {label}: {wall * 1000:.0f} ms wall,"
                f" {cpu * 1000:.0f} ms CPU (median of {args.builds})"
            )
        for preload in (True, False):
            waits = replacement_times(env, args.kills, preload)
            label = "with preload (deploy/gunicorn.conf.py)" if preload else "without preload"
            print(
                f"killed worker replaced, {label}: median {statistics.median(waits) * 1000:.0f} ms,"
                f" worst {max(waits) * 1000:.0f} ms over {len(waits)} kills"
            )


if __name__ == "__main__":
    main()
