"""How the request ledger (需求台帐) export copes with a province's year: a million
requests streamed to JSON lines, CSV and XLSX, timed, with the exporting process's
peak memory (RSS) measured by the kernel.

Seeds a throwaway PostgreSQL database the way bench/console_queries.py does (requests,
farmers, offers, visits and surveys; few messages and no search index, which the
ledger does not read), then runs the real `farmhelp requests export` once per format,
as its own process, and prints its wall time, peak RSS and the file's size. The peak is
the exporting process's own high-water mark (VmHWM, read from /proc while it runs):
the kernel's ru_maxrss of a child also counts the parent it was forked from, which here
holds the seeding's data.

    uv run python bench/ledger_export.py [--requests 1000000]
        [--database postgresql://postgres@127.0.0.1:5432/farmhelp_ledger] [--no-seed]

The database named by --database is dropped and created again (unless --no-seed).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def export(database: str, fmt: str, folder: Path) -> tuple[float, int, int, str]:
    """Run one export as its own process: (seconds, peak RSS in bytes, file bytes, the
    last progress line it printed)."""
    output = folder / f"ledger.{fmt}"
    env = {**os.environ, "FARMHELP_DATABASE_URL": database}
    started = time.monotonic()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "farmhelp"), "requests", "export", "--format", fmt,
         "--output", str(output)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    progress: list[str] = []
    reader = threading.Thread(
        target=lambda: progress.extend(line.strip() for line in process.stderr)
    )  # type: ignore[union-attr]
    reader.start()
    peak = 0
    while process.poll() is None:
        peak = max(peak, high_water(process.pid))
        time.sleep(0.2)
    reader.join()
    seconds = time.monotonic() - started
    assert process.returncode == 0, "\n".join(progress[-20:])
    shown = [line for line in progress if line.startswith("exported")]
    return seconds, peak, output.stat().st_size, shown[-1] if shown else ""


def high_water(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_ledger"
    )
    parser.add_argument("--formats", default="jsonl,csv,xlsx")
    parser.add_argument("--no-seed", action="store_true", help="reuse the database as it is")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    if not args.no_seed:
        from console_queries import seed

        seed(args.database, args.requests, messages=args.requests, search_index=False)
    print(f"{'format':8} {'seconds':>9} {'peak RSS':>10} {'file':>10}  progress shown")
    with tempfile.TemporaryDirectory() as folder:
        for fmt in args.formats.split(","):
            seconds, rss, size, shown = export(args.database, fmt, Path(folder))
            print(f"{fmt:8} {seconds:9.1f} {rss / 2**20:8.0f} MB {size / 2**20:8.0f} MB  {shown}")


if __name__ == "__main__":
    main()
