"""gunicorn settings for farmhelp's web workers.

    gunicorn -c deploy/gunicorn.conf.py 'bot:create_app()'

The app is built once in the master before the workers are forked (`preload_app`), so a
worker that dies is replaced in milliseconds rather than after seconds of imports and
lexicon building. Building the app opens no connection and starts no thread; the
engine's pool is still dropped in each new worker, so that no connection is ever shared
across processes. Before forking, everything the build made (lexicons, pinyin tables,
statements: hundreds of thousands of objects) is frozen out of the garbage collector's
reach: the workers' full collections no longer walk it (a console page's 95th
percentile fell from 306 to 193 ms, bench/console_queries.py), and the pages stay
shared with the master.
"""

import gc
import os

bind = os.environ.get("FARMHELP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FARMHELP_WEB_WORKERS", "4"))
preload_app = True
timeout = 30
graceful_timeout = 10
keepalive = 5


def pre_fork(server: object, worker: object) -> None:
    """Freeze the built app's objects (again for a replacement worker: a no-op then)."""
    gc.freeze()


def post_fork(server: object, worker: object) -> None:
    """Drop any pooled connection the master might hold (there is none after a plain build)."""
    app = worker.app.wsgi()  # type: ignore[attr-defined]
    engine = app.extensions.get("farmhelp.engine")
    if engine is not None:
        engine.dispose(close=False)
