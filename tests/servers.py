"""Start real `farmhelp` processes for tests that need separate workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN
from tests.wechat_client import sha1_signature

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def hung_listener() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung Redis); yield its URL."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(listener.accept()[0])  # kept open, never read nor answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        done.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def post_chunked(base: str, query: dict[str, str], body: bytes) -> int:
    """POST a body to /wechat in 16 KiB chunks (Transfer-Encoding: chunked); return the status."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/wechat?" + "&".join(f"{k}={v}" for k, v in query.items()))
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    try:
        for start in range(0, len(body), 16_384):
            chunk = body[start : start + 16_384]
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may hang up as soon as the limit is passed
    status = connection.getresponse().status
    connection.close()
    return status


def server_env(database_url: str, instance_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARMHELP_", "WECHAT_"))}
    env.update(
        FARMHELP_ENV="development",
        FARMHELP_DATABASE_URL=database_url,
        FARMHELP_INSTANCE_DIR=str(instance_dir),
        FARMHELP_SECRET_KEY="test-secret-key-0123456789",
        WECHAT_TOKEN=TEST_TOKEN,
        WECHAT_APP_ID=TEST_APP_ID,
        WECHAT_APP_SECRET="test-app-secret",
        WECHAT_ENCODING_AES_KEY=TEST_AES_KEY,
        WECHAT_ALLOW_PLAINTEXT="true",
        PYTHONWARNINGS="error",
    )
    env.update(extra)
    return env


def start_farmhelp(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start a `farmhelp` command as its own process, its output going to log_path."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process politely (SIGTERM), or kill it after 15 s."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve_process(
    env: dict[str, str], log_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `farmhelp serve` on a free port; yield (base URL, process); stop it afterwards."""
    port = free_port()
    process = start_farmhelp(env, log_path, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, log_path)
        yield base, process
    finally:
        stop(process)


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Run `farmhelp serve` on a free port; yield its base URL."""
    with serve_process(env, log_path) as (base, _process):
        yield base


def wait_until_up(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')}")
        ts, nonce = str(int(time.time())), "1"
        query = {
            "signature": sha1_signature(TEST_TOKEN, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": "up",
        }
        try:
            if requests.get(f"{base}/wechat", params=query, timeout=1).text == "up":
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log_path.read_text(errors='replace')}")
