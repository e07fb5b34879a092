"""The tables: farmers, help requests, the conversation log and media files.

Timestamps are timezone-aware UTC (SQLModel's UTCDateTime), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig

# How far `farmhelp demo` has moved its clock forward; always zero otherwise.
_demo_clock_offset = timedelta(0)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC (moved forward only in the demo)."""
    return datetime.now(UTC) + _demo_clock_offset


# Default factories for list and dict columns. Plain functions rather than `list` and
# `dict`: pydantic reads a default factory's signature each time a row object is made,
# and a built-in type's signature is parsed from its text every time (50 µs a field).
def empty_list() -> list[Any]:
    return []


def empty_dict() -> dict[str, Any]:
    return {}


# Even a plain function's signature is worked out afresh on each call of
# inspect.signature (about 20 µs), unless the function carries it: so they carry it.
for _factory in (utcnow, empty_list, empty_dict):
    _factory.__signature__ = inspect.signature(_factory)  # type: ignore[union-attr]


def advance_demo_clock(by: timedelta) -> timedelta:
    """Move the demo's clock forward (only `farmhelp demo` calls this); return the offset."""
    global _demo_clock_offset
    _demo_clock_offset += by
    return _demo_clock_offset


class TableModel(SQLModel):
    """The base of every table: rows are made and read without pydantic's validation
    (SQLModel validates no table row), so the validator pydantic would build for each
    table at import is built only if something asks for it (`defer_build`): a fresh
    process starts without building 27 schemas it never uses."""

    model_config = SQLModelConfig(defer_build=True)


class Farmer(TableModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    openid: str = Field(max_length=64, unique=True, index=True)
    # How staff know the farmer (张大爷, 石坝村李): WeChat gives no name, so the county
    # writes one down, as it does in its own phone book.
    name: str | None = Field(default=None, max_length=32)
    village_code: str | None = Field(default=None, max_length=64)
    place: str | None = Field(default=None, max_length=128)
    # A number the farmer chose to leave so an expert can call (shown masked to most).
    phone: str | None = Field(default=None, max_length=32)
    # Cleared by 退订: no advisories (事前主动) any more; help requests are unaffected.
    advisories: bool = True
    latitude: float | None = None
    longitude: float | None = None
    subscribed: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    last_message_at: datetime | None = Field(default=None, index=True)
    unsubscribed_at: datetime | None = None
    # Personal information (PIPL): when the notice was shown, whether the farmer agreed
    # to keep precise coordinates, when they asked to erase (confirmed within minutes)
    # and when their data was erased (the row stays, anonymous, for the counts).
    privacy_noticed_at: datetime | None = None
    location_consent: bool = False
    erase_asked_at: datetime | None = None
    erased_at: datetime | None = Field(default=None, index=True)


class HelpRequest(TableModel, table=True):
    __tablename__ = "help_request"
    __table_args__ = (
        # The few requests changed since the search index last read them.
        Index(
            "ix_help_request_unindexed",
            "id",
            postgresql_where=text("indexed_at IS NULL OR indexed_at < updated_at"),
            sqlite_where=text("indexed_at IS NULL OR indexed_at < updated_at"),
        ),
        # One crop family's requests of the last days, read when a request is confirmed.
        Index("ix_help_request_crop_confirmed", "crop", "confirmed_at"),
        # The cases each expert has in hand (routing's load, the experts page).
        Index("ix_help_request_status_expert", "status", "expert_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = Field(default=None, max_length=8, unique=True, index=True)
    farmer_id: int = Field(foreign_key="farmer.id", index=True)
    status: str = Field(default="intake", max_length=20, index=True)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    crop: str | None = Field(default=None, max_length=32)
    category: str = Field(default="other", max_length=32)
    symptoms: list[str] = Field(default_factory=empty_list, sa_column=Column(JSON, nullable=False))
    urgency: str = Field(default="normal", max_length=10)
    place: str | None = Field(default=None, max_length=128)
    # The place resolved against the imported villages (handlers/places.py); both
    # empty while the farmer's words in `place` match none (listed for staff to map).
    township: str | None = Field(default=None, max_length=64, index=True)
    village: str | None = Field(default=None, max_length=64, index=True)
    latitude: float | None = None
    longitude: float | None = None
    pending_question: str | None = Field(default=None, max_length=20)
    questions_asked: list[str] = Field(
        default_factory=empty_list, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = Field(default=None, index=True)  # a month's requests
    closed_at: datetime | None = None
    expert_id: int | None = Field(default=None, foreign_key="expert.id", index=True)
    accepted_at: datetime | None = Field(default=None, index=True)
    visit_booked_for: datetime | None = None
    visited_at: datetime | None = None
    visit_record: str | None = Field(default=None, sa_column=Column(Text))
    # The structured prescription (处方) of the last visit recorded on the workbench.
    prescription: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    routing: dict[str, Any] = Field(
        default_factory=empty_dict, sa_column=Column(JSON, nullable=False)
    )
    visit_reminded_at: datetime | None = None
    overdue_alerted_at: datetime | None = None
    # When the search index last read this request's text (None: never).
    indexed_at: datetime | None = Field(default=None, index=True)
    # When its personal data was removed (erasure or retention); None: not yet.
    anonymised_at: datetime | None = Field(default=None, index=True)


class Message(TableModel, table=True):
    """One entry of the conversation log: inbound, outbound (passive reply or push)."""

    id: int | None = Field(default=None, primary_key=True)
    direction: str = Field(max_length=8)  # "in" or "out"
    channel: str = Field(default="push", max_length=16)  # push, passive, custom, template
    openid: str = Field(max_length=64, index=True)
    farmer_id: int | None = Field(default=None, foreign_key="farmer.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="help_request.id", index=True)
    msg_type: str = Field(max_length=32)
    event: str | None = Field(default=None, max_length=64)
    content: str | None = Field(default=None, sa_column=Column(Text))
    media_id: str | None = Field(default=None, max_length=256)
    wechat_msg_id: str | None = Field(default=None, max_length=32)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    payload: dict[str, Any] = Field(
        default_factory=empty_dict, sa_column=Column(JSON, nullable=False)
    )
    reply_body: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(default="received", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class MediaFile(TableModel, table=True):
    """A photo, voice note or video a farmer sent, and where its bytes are kept."""

    __tablename__ = "media_file"

    id: int | None = Field(default=None, primary_key=True)
    media_id: str = Field(max_length=256, index=True)
    kind: str = Field(max_length=16)  # image, voice, video, shortvideo
    message_id: int = Field(foreign_key="message.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="help_request.id", index=True)
    status: str = Field(default="pending", max_length=16, index=True)  # pending, stored, failed
    attempts: int = 0
    next_try_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    path: str | None = Field(default=None, max_length=512)
    content_type: str | None = Field(default=None, max_length=64)
    size: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    stored_at: datetime | None = None


class AccessToken(TableModel, table=True):
    """The WeChat access_token, shared by every process (one row per AppID)."""

    __tablename__ = "access_token"

    app_id: str = Field(primary_key=True, max_length=64)
    token: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    expires_at: datetime = Field(default_factory=utcnow)
    fetched_at: datetime = Field(default_factory=utcnow)
    # Set while one process fetches a new token, so others wait instead of fetching too.
    refreshing_until: datetime | None = None


class Expert(TableModel, table=True):
    """An agricultural expert who follows the account and takes requests."""

    id: int | None = Field(default=None, primary_key=True)
    openid: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    team: str = Field(default="", max_length=64, index=True)
    specialties: list[str] = Field(
        default_factory=empty_list, sa_column=Column(JSON, nullable=False)
    )
    crops: list[str] = Field(default_factory=empty_list, sa_column=Column(JSON, nullable=False))
    regions: list[str] = Field(default_factory=empty_list, sa_column=Column(JSON, nullable=False))
    leader: bool = False
    active: bool = True
    # Set by the 值班 / 下班 commands: overrides the rota until the given time.
    duty_override: str | None = Field(default=None, max_length=8)  # "on" or "off"
    duty_override_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Team(TableModel, table=True):
    """A team of experts; `broadcast` teams work an open board (揭榜领题)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    broadcast: bool = False


class DutyShift(TableModel, table=True):
    """One on-call shift of the rota (值班表)."""

    __tablename__ = "duty_shift"
    __table_args__ = (UniqueConstraint("expert_id", "start", "end"),)

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    start: datetime = Field(index=True)
    end: datetime = Field(index=True)
    # A temporary swap (值班调整): this shift covers for that expert's shift.
    covers_for: int | None = Field(default=None, foreign_key="expert.id")


class Place(TableModel, table=True):
    """One village (or township, or county) of the place hierarchy."""

    __table_args__ = (UniqueConstraint("county", "township", "village"),)

    id: int | None = Field(default=None, primary_key=True)
    county: str = Field(max_length=64, index=True)
    township: str = Field(default="", max_length=64, index=True)
    village: str = Field(default="", max_length=64, index=True)
    # The village's permanent QR code (scene `village:<id>`), as qrcode/create gave it.
    qr_url: str | None = Field(default=None, max_length=256)
    # On a township's row: the townships of the same county that border it (outbreak
    # clusters reach across a border; the relation is read both ways).
    neighbours: list[str] = Field(
        default_factory=empty_list, sa_column=Column(JSON, nullable=False, default=list)
    )


class Offer(TableModel, table=True):
    """A request offered to an expert, and how the expert answered."""

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="help_request.id", index=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    status: str = Field(default="pending", max_length=16, index=True)
    # pending, accepted, declined, timed_out, taken (another expert accepted), withdrawn
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    offered_at: datetime = Field(default_factory=utcnow)
    deadline_at: datetime = Field(default_factory=utcnow, index=True)
    answered_at: datetime | None = Field(default=None, index=True)
    answer_note: str | None = Field(default=None, sa_column=Column(Text))


class RequestEvent(TableModel, table=True):
    """One state change of a request: who, when, why."""

    __tablename__ = "request_event"
    # One expert's visits, advice and notes in a period (their service record).
    __table_args__ = (Index("ix_request_event_actor_at", "actor", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="help_request.id", index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=80)  # "farmer:<openid>", "expert:<openid>", "system"
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Outbox(TableModel, table=True):
    """A message to push through the WeChat API, with every attempt's result."""

    __table_args__ = (
        # What the deliverers look for, oldest first: pages, relays and notices, and
        # apart from them an advisory's hundred thousand rows (models/outbox.py).
        Index(
            "ix_outbox_due_urgent",
            "id",
            postgresql_where=text("status = 'pending' AND purpose <> 'advisory'"),
            sqlite_where=text("status = 'pending' AND purpose <> 'advisory'"),
        ),
        Index(
            "ix_outbox_due_advisory",
            "id",
            postgresql_where=text("status = 'pending' AND purpose = 'advisory'"),
            sqlite_where=text("status = 'pending' AND purpose = 'advisory'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    openid: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)  # "custom" or "template"
    payload: dict[str, Any] = Field(
        default_factory=empty_dict, sa_column=Column(JSON, nullable=False)
    )
    # A template to fall back to when the 48 h customer-service window is closed.
    fallback: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    purpose: str = Field(default="", max_length=32)  # page, notify, relay, alert …
    request_id: int | None = Field(default=None, foreign_key="help_request.id", index=True)
    status: str = Field(default="pending", max_length=16, index=True)
    # pending, sent, held (waiting for the user to write), failed, dropped
    attempts: list[dict[str, Any]] = Field(
        default_factory=empty_list, sa_column=Column(JSON, nullable=False)
    )
    next_try_at: datetime = Field(default_factory=utcnow, index=True)
    advisory_id: int | None = Field(default=None, foreign_key="advisory.id", index=True)
    # Which deliverer lane the recipient belongs to: one deliverer sends all of one
    # person's messages, in order, while others send other people's at the same time.
    lane: int = Field(default=0, index=True)
    # The deliverer that claimed the row for one attempt (cleared after the attempt).
    claimed_by: str | None = Field(default=None, max_length=128)
    # template/send's msgid, and what WeChat reported later (TEMPLATESENDJOBFINISH):
    # success, failed:user block, failed:system failed.
    wechat_msgid: str | None = Field(default=None, max_length=32, index=True)
    delivery: str | None = Field(default=None, max_length=32)
    last_errcode: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


# Survey states in which the survey waits for the farmer's answer.
SURVEY_OPEN_STATES = ("sent",)


class Survey(TableModel, table=True):
    """The follow-up survey (回访) after a visit: one per visit, answered one digit at a time."""

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="help_request.id", index=True)
    farmer_id: int = Field(foreign_key="farmer.id", index=True)
    expert_id: int | None = Field(default=None, foreign_key="expert.id")
    state: str = Field(default="scheduled", max_length=16, index=True)
    # scheduled, held (waiting for the farmer to write), sent, answered, expired, cancelled
    step: str = Field(default="solved", max_length=16)  # solved, rating, comment, done
    due_at: datetime = Field(index=True)
    sent_at: datetime | None = Field(default=None, index=True)  # a month's surveys
    reminded_at: datetime | None = None
    last_answer_at: datetime | None = None
    answered_at: datetime | None = None
    unclear: int = 0
    solved: str | None = Field(default=None, max_length=8)  # yes, partly, no
    rating: int | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # An answer that complains (not solved, or rated 1–2), as staff judged it after
    # looking into it: upheld or dismissed (None: not looked at yet).
    complaint: str | None = Field(default=None, max_length=10)
    complaint_by: str | None = Field(default=None, max_length=64)
    complaint_at: datetime | None = None
    # This answer reopened the request for another expert (handlers/survey.reopen).
    reopened: bool = False


class TreatmentCheck(TableModel, table=True):
    """A set time after a visit, the farmer is asked how it is now: the prescription's
    verified outcome (好了 / 好一些 / 没变化 / 更重了)."""

    __tablename__ = "treatment_check"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="help_request.id", index=True)
    farmer_id: int = Field(foreign_key="farmer.id", index=True)
    expert_id: int | None = Field(default=None, foreign_key="expert.id")
    visited_at: datetime  # the visit whose treatment it checks
    state: str = Field(default="scheduled", max_length=16, index=True)
    # scheduled, sending, held (waiting for the farmer to write), sent, answered,
    # expired, cancelled
    due_at: datetime = Field(index=True)
    sent_at: datetime | None = None
    answered_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=16)  # recovered, better, same, worse
    words: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


class SchedulerLease(TableModel, table=True):
    """Which scheduler process may act; it renews the lease, a standby takes an expired one."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(default="", max_length=128)
    expires_at: datetime = Field(default_factory=utcnow)


class MonthlyReport(TableModel, table=True):
    """One row of the monthly dispatch report (月度调度表), per county or per team."""

    __tablename__ = "monthly_report"
    __table_args__ = (UniqueConstraint("month", "scope", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7, index=True)  # 2026-10
    scope: str = Field(max_length=8)  # county, team, total
    name: str = Field(max_length=64)
    figures: dict[str, Any] = Field(
        default_factory=empty_dict, sa_column=Column(JSON, nullable=False)
    )
    computed_at: datetime = Field(default_factory=utcnow)


class ReportSnapshot(TableModel, table=True):
    """A closed month's whole report page, computed by the scheduler so that the
    console shows it without going through the month's rows again."""

    __tablename__ = "report_snapshot"

    month: str = Field(primary_key=True, max_length=7)  # 2026-10
    page: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow)


class Generation(TableModel, table=True):
    """How many times a kind of reference data (places, experts) has changed.

    Bumped in the transaction that changes it; workers compare it with the number
    their cached copy was read at (see models/generations.py).
    """

    __tablename__ = "cache_generation"

    name: str = Field(primary_key=True, max_length=32)
    number: int = 0


class PushNonce(TableModel, table=True):
    """A (timestamp, nonce) pair already seen on a signed push, with its body's hash.

    The query signature covers token, timestamp and nonce but not the body, so a
    pair seen again with a different body is a replay and is refused.
    """

    __tablename__ = "push_nonce"

    key: str = Field(primary_key=True, max_length=100)
    body_hash: str = Field(max_length=64)
    expires_at: datetime = Field(index=True)


class StaffUser(TableModel, table=True):
    """A county staff member who signs in to the console."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    role: str = Field(max_length=16)  # admin, coordinator, viewer
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class AuditEvent(TableModel, table=True):
    """One change made (or personal data unmasked) in the console: who, when, what."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    username: str = Field(max_length=64, index=True)
    action: str = Field(max_length=40)
    target: str = Field(default="", max_length=120)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    address: str = Field(default="", max_length=64)


class StaffSession(TableModel, table=True):
    """One signed-in browser of a staff member, checked on every request.

    The cookie carries a random token; only its hash is stored. Signing out, disabling
    the account or changing its password ends the row, and with it the cookie, however
    it was copied; a row also ends when idle too long or past its absolute lifetime.
    """

    __tablename__ = "staff_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    staff_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    address: str = Field(default="", max_length=64)


class LoginThrottle(TableModel, table=True):
    """Sign-in attempts in the current minute, by username and by address.

    Counted with one atomic upsert before a password is checked, so parallel guesses
    from many workers cannot slip past the limit.
    """

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=100)
    window_start: datetime
    attempts: int = 0


class SearchTerm(TableModel, table=True):
    """One character or character pair of a request's words: the Chinese search index.

    Chinese words are mostly two characters, which trigram indexes cannot serve; a
    phrase is found by intersecting its pairs and then checking the text itself.
    """

    __tablename__ = "search_term"

    term: str = Field(primary_key=True, max_length=8)
    request_id: int = Field(primary_key=True, foreign_key="help_request.id", index=True)


class Consultation(TableModel, table=True):
    """A colleague the expert holding a request invited to consult on it (会诊)."""

    __table_args__ = (UniqueConstraint("request_id", "expert_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="help_request.id", index=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    invited_by: int = Field(foreign_key="expert.id")
    invited_at: datetime = Field(default_factory=utcnow)


class OutbreakAlert(TableModel, table=True):
    """Several requests about one crop family with overlapping signs, from one township
    or neighbouring ones, within the window: a cluster."""

    __tablename__ = "outbreak_alert"

    id: int | None = Field(default=None, primary_key=True)
    crop: str = Field(max_length=32, index=True)  # the crop family (小麦, 生猪, 牛)
    county: str = Field(default="", max_length=64, index=True)
    township: str = Field(max_length=64, index=True)  # where it began
    townships: list[str] = Field(
        default_factory=empty_list, sa_column=Column(JSON, nullable=False, default=list)
    )
    villages: list[str] = Field(
        default_factory=empty_list, sa_column=Column(JSON, nullable=False, default=list)
    )
    symptoms: list[str] = Field(default_factory=empty_list, sa_column=Column(JSON, nullable=False))
    # The farmers' own words for each sign (锈病: ["黄粉", "像铁锈"]).
    words: dict[str, list[str]] = Field(
        default_factory=empty_dict, sa_column=Column(JSON, nullable=False, default=dict)
    )
    request_ids: list[int] = Field(
        default_factory=empty_list, sa_column=Column(JSON, nullable=False)
    )
    first_at: datetime
    last_at: datetime = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Advisory(TableModel, table=True):
    """A warning or advice staff send to farmers before problems come (事前主动)."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    crop: str | None = Field(default=None, max_length=32)
    township: str | None = Field(default=None, max_length=64)
    village: str | None = Field(default=None, max_length=64)
    everyone: bool = False
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    recipients: int = 0  # the audience counted when staff sent it
    # Its outbox rows are written in batches, by farmer id: how many so far, the last
    # farmer written, and when the last batch was (None while some are still to go).
    queued: int = 0
    queued_through: int = 0
    queued_at: datetime | None = Field(default=None, index=True)
    alert_id: int | None = Field(default=None, foreign_key="outbreak_alert.id")
    # The one-time key of the form that sent it: a double-click sends one advisory.
    submission: str | None = Field(default=None, max_length=32, unique=True)
