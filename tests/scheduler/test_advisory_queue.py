"""Two scheduler processes writing one county-wide advisory's batches at the same time.

On PostgreSQL (CI runs both) the advisory's row lock decides which process writes a
batch; on SQLite the database serialises them. Either way each farmer is queued once.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from handlers import advisories
from handlers.advisories import send_advisory
from handlers.config import Policy
from models.db import make_engine
from models.tables import Advisory, Farmer, Outbox, utcnow

ROOT = Path(__file__).resolve().parents[2]
FARMERS = 120
# A scheduler process: small batches, written until nothing is left to queue.
WRITER = """
import sys
from handlers import advisories
from handlers.config import Policy
from models.db import make_engine
from models.tables import utcnow
from scheduler.advisories import queue_advisories
from sqlmodel import Session

advisories.QUEUE_BATCH = 7
engine = make_engine(sys.argv[1])
sys.stdin.readline()  # both start together
for _ in range(400):
    queue_advisories(engine=engine, config=Policy(), clock=utcnow, pause=0, budget=5)
    with Session(engine) as session:
        if not advisories.advisories_to_queue(session):
            break
print("done")
"""


def test_two_processes_queue_each_farmer_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(advisories, "QUEUE_BATCH", 7)  # the send writes the first 7
    engine = make_engine(database_url)
    now = utcnow()
    with Session(engine) as session:
        session.add_all(
            Farmer(openid=f"county-{n:03d}", last_message_at=now - timedelta(hours=n % 90))
            for n in range(FARMERS)
        )
        advisory = Advisory(title="寒潮预警", body="今夜降温。", everyone=True, created_by="c")
        session.add(advisory)
        session.flush()
        send_advisory(session, advisory=advisory, config=Policy(), now=now)
        session.commit()
        advisory_id = advisory.id
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0 and "done" in out
    with Session(engine) as session:
        queued = Counter(
            session.exec(select(Outbox.openid).where(Outbox.advisory_id == advisory_id)).all()
        )
        done = session.get(Advisory, advisory_id)
    engine.dispose()
    assert len(queued) == FARMERS and set(queued.values()) == {1}
    assert done is not None and done.queued == FARMERS and done.queued_at is not None
