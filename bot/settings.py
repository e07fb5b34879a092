"""Typed settings read from environment variables, validated when the app starts."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from handlers.config import Policy

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
INSTANCE_DIR = Path.cwd() / "instance"
TEMPLATE_KEY_COUNTS = {
    "wechat_template_expert_page_keys": 4,
    "wechat_template_survey_keys": 3,
    "wechat_template_advisory_keys": 2,
}


class SettingsError(ValueError):
    """Raised when the configuration cannot work; the message says what to set."""


class Settings(BaseSettings):
    """Everything configurable, from environment variables (and `.env` in development)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["development", "production"] = Field(
        default="development", validation_alias="FARMHELP_ENV"
    )
    database_url: str = Field(default="", validation_alias="FARMHELP_DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="FARMHELP_REDIS_URL")
    secret_key: str = Field(default="", validation_alias="FARMHELP_SECRET_KEY")
    media_dir: Path = Field(default=INSTANCE_DIR / "media", validation_alias="FARMHELP_MEDIA_DIR")
    instance_dir: Path = Field(default=INSTANCE_DIR, validation_alias="FARMHELP_INSTANCE_DIR")
    max_body_bytes: int = Field(default=64 * 1024, validation_alias="FARMHELP_MAX_BODY_BYTES")
    timestamp_tolerance: int = Field(default=300, validation_alias="FARMHELP_TIMESTAMP_TOLERANCE")

    wechat_token: str = Field(default="", validation_alias="WECHAT_TOKEN")
    wechat_app_id: str = Field(default="", validation_alias="WECHAT_APP_ID")
    wechat_app_secret: str = Field(default="", validation_alias="WECHAT_APP_SECRET")
    wechat_encoding_aes_key: str | None = Field(
        default=None, validation_alias="WECHAT_ENCODING_AES_KEY"
    )
    # With an EncodingAESKey set, plaintext pushes are refused unless this allows them
    # (the admin console's 兼容模式 while switching over).
    wechat_allow_plaintext: bool = Field(default=False, validation_alias="WECHAT_ALLOW_PLAINTEXT")
    wechat_api_base_url: str = Field(
        default=DEFAULT_API_BASE_URL, validation_alias="WECHAT_API_BASE_URL"
    )
    wechat_token_endpoint: Literal["stable_token", "token"] = Field(
        default="stable_token", validation_alias="WECHAT_TOKEN_ENDPOINT"
    )
    wechat_template_expert_page: str | None = Field(
        default=None, validation_alias="WECHAT_TEMPLATE_EXPERT_PAGE"
    )

    public_url: str = Field(default="http://127.0.0.1:8000", validation_alias="FARMHELP_PUBLIC_URL")
    timezone: str = Field(default="Asia/Shanghai", validation_alias="FARMHELP_TIMEZONE")
    accept_timeout: str = Field(default="30min", validation_alias="FARMHELP_ACCEPT_TIMEOUT")
    urgent_accept_timeout: str = Field(
        default="10min", validation_alias="FARMHELP_URGENT_ACCEPT_TIMEOUT"
    )
    staff_openids: str = Field(default="", validation_alias="FARMHELP_STAFF_OPENIDS")
    survey_delay: str = Field(default="24h", validation_alias="FARMHELP_SURVEY_DELAY")
    survey_reminder: str = Field(default="24h", validation_alias="FARMHELP_SURVEY_REMINDER")
    survey_expiry: str = Field(default="7d", validation_alias="FARMHELP_SURVEY_EXPIRY")
    quiet_hours: str = Field(default="21:00-08:00", validation_alias="FARMHELP_QUIET_HOURS")
    visit_reminder: str = Field(default="1h", validation_alias="FARMHELP_VISIT_REMINDER")
    overdue_after: str = Field(default="3d", validation_alias="FARMHELP_OVERDUE_AFTER")
    link_lifetime: str = Field(default="7d", validation_alias="FARMHELP_LINK_LIFETIME")
    intake_timeout: str = Field(default="10min", validation_alias="FARMHELP_INTAKE_TIMEOUT")
    outbreak_window: str = Field(default="72h", validation_alias="FARMHELP_OUTBREAK_WINDOW")
    outbreak_min_requests: int = Field(
        default=3, ge=2, validation_alias="FARMHELP_OUTBREAK_MIN_REQUESTS"
    )
    outcome_delay: str = Field(default="7d", validation_alias="FARMHELP_OUTCOME_DELAY")
    score_volume: float = Field(default=60.0, ge=0, validation_alias="FARMHELP_SCORE_VOLUME")
    score_results: float = Field(default=40.0, ge=0, validation_alias="FARMHELP_SCORE_RESULTS")
    score_complaint: float = Field(default=0.5, ge=0, validation_alias="FARMHELP_SCORE_COMPLAINT")
    score_reopened: float = Field(default=0.5, ge=0, validation_alias="FARMHELP_SCORE_REOPENED")
    outcome_expiry: str = Field(default="7d", validation_alias="FARMHELP_OUTCOME_EXPIRY")
    outbreak_min_urgent: int = Field(
        default=2, ge=2, validation_alias="FARMHELP_OUTBREAK_MIN_URGENT"
    )
    wechat_template_advisory: str | None = Field(
        default=None, validation_alias="WECHAT_TEMPLATE_ADVISORY"
    )
    # A development tool: the fake WeChat API and the simulator (farmhelp demo turns it on).
    fake_wechat_api: bool = Field(default=False, validation_alias="FARMHELP_FAKE_WECHAT_API")
    deliverers: int = Field(default=4, ge=1, le=64, validation_alias="FARMHELP_DELIVERERS")
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias="FARMHELP_LOG_FORMAT"
    )
    console_idle_seconds: int = Field(default=1800, validation_alias="FARMHELP_CONSOLE_IDLE")
    trust_proxy: bool = Field(default=False, validation_alias="FARMHELP_TRUST_PROXY")
    wechat_template_survey: str | None = Field(
        default=None, validation_alias="WECHAT_TEMPLATE_SURVEY"
    )
    wechat_template_expert_page_keys: str = Field(
        default="keyword1,keyword2,keyword3,keyword4",
        validation_alias="WECHAT_TEMPLATE_EXPERT_PAGE_KEYS",
    )
    wechat_template_survey_keys: str = Field(
        default="keyword1,keyword2,keyword3", validation_alias="WECHAT_TEMPLATE_SURVEY_KEYS"
    )
    wechat_template_advisory_keys: str = Field(
        default="keyword1,keyword2", validation_alias="WECHAT_TEMPLATE_ADVISORY_KEYS"
    )
    account_name: str = Field(
        default="农技服务", min_length=1, max_length=30, validation_alias="FARMHELP_ACCOUNT_NAME"
    )
    privacy_contact: str = Field(
        default="", max_length=200, validation_alias="FARMHELP_PRIVACY_CONTACT"
    )
    retention: str = Field(default="3y", validation_alias="FARMHELP_RETENTION")
    unfollow_grace: str = Field(default="30d", validation_alias="FARMHELP_UNFOLLOW_GRACE")

    @field_validator(
        "wechat_template_expert_page_keys",
        "wechat_template_survey_keys",
        "wechat_template_advisory_keys",
    )
    @classmethod
    def _check_template_keys(cls, value: str, info: ValidationInfo) -> str:
        wanted = TEMPLATE_KEY_COUNTS[str(info.field_name)]
        keys = [key.strip() for key in value.split(",")]
        if len(keys) != wanted or not all(re.fullmatch(r"[a-z_]+[0-9]*", k) for k in keys):
            raise ValueError(
                f"give {wanted} keyword names separated by commas, as the template shows them "
                f"(e.g. thing1,character_string2), not {value!r}"
            )
        return ",".join(keys)

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        from handlers.config import parse_quiet_hours

        parse_quiet_hours(value)
        return value

    @field_validator(
        "accept_timeout",
        "urgent_accept_timeout",
        "survey_delay",
        "survey_reminder",
        "survey_expiry",
        "visit_reminder",
        "overdue_after",
        "link_lifetime",
        "intake_timeout",
        "outbreak_window",
        "outcome_delay",
        "outcome_expiry",
        "retention",
        "unfollow_grace",
    )
    @classmethod
    def _check_duration(cls, value: str) -> str:
        from handlers.config import parse_duration

        parse_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator(
        "redis_url",
        "wechat_encoding_aes_key",
        "wechat_template_expert_page",
        "wechat_template_advisory",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("wechat_encoding_aes_key")
    @classmethod
    def _check_aes_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            key = base64.b64decode(value + "=", validate=True)
        except binascii.Error as error:
            raise ValueError("WECHAT_ENCODING_AES_KEY is not valid base64") from error
        if len(value) != 43 or len(key) != 32:
            raise ValueError("WECHAT_ENCODING_AES_KEY must be the 43 characters WeChat shows")
        return value

    @field_validator("wechat_api_base_url")
    @classmethod
    def _ensure_trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _fill_and_check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.instance_dir / 'farmhelp.sqlite3'}"
        missing = [
            name
            for name, value in (
                ("FARMHELP_SECRET_KEY", self.secret_key),
                ("WECHAT_TOKEN", self.wechat_token),
                ("WECHAT_APP_ID", self.wechat_app_id),
                ("WECHAT_APP_SECRET", self.wechat_app_secret),
            )
            if not value
        ]
        if self.env == "production":
            if missing:
                raise SettingsError(f"production needs these set: {', '.join(missing)}")
            self._check_production_secrets()
            if self.fake_wechat_api:
                raise SettingsError(
                    "FARMHELP_FAKE_WECHAT_API is a development tool; production refuses it"
                )
            return self
        # Development: never a fixed, guessable secret; a random one per process instead.
        if not self.secret_key:
            self.secret_key = secrets.token_urlsafe(32)
        if not self.wechat_token:
            self.wechat_token = secrets.token_urlsafe(16)
            log.warning(
                "WECHAT_TOKEN is not set; this run uses the random token %s", self.wechat_token
            )
        if not self.wechat_app_id:
            self.wechat_app_id = "wx-development"
        if not self.wechat_app_secret:
            self.wechat_app_secret = secrets.token_urlsafe(16)
        return self

    def _check_production_secrets(self) -> None:
        """Refuse secrets that are blank, padded or guessable."""
        for name, value in (
            ("FARMHELP_SECRET_KEY", self.secret_key),
            ("WECHAT_TOKEN", self.wechat_token),
            ("WECHAT_APP_ID", self.wechat_app_id),
            ("WECHAT_APP_SECRET", self.wechat_app_secret),
        ):
            if not value.strip() or value != value.strip() or any(c.isspace() for c in value):
                raise SettingsError(f"{name} must not be blank or contain spaces")
        if len(self.secret_key) < 16:
            raise SettingsError("FARMHELP_SECRET_KEY must be at least 16 characters")
        # WeChat takes 3-32 letters and digits; a short token is guessable.
        if not re.fullmatch(r"[A-Za-z0-9]{8,32}", self.wechat_token):
            raise SettingsError("WECHAT_TOKEN must be 8 to 32 letters and digits")
        if len(self.wechat_app_secret) < 16:
            raise SettingsError("WECHAT_APP_SECRET looks wrong (WeChat's is 32 characters)")

    def policy(self) -> Policy:
        """The routing policy handlers and jobs follow."""
        from handlers.config import Policy, parse_duration, parse_quiet_hours

        return Policy(
            accept_timeout=parse_duration(self.accept_timeout),
            urgent_accept_timeout=parse_duration(self.urgent_accept_timeout),
            staff_openids=tuple(o.strip() for o in self.staff_openids.split(",") if o.strip()),
            expert_page_template=self.wechat_template_expert_page,
            public_url=self.public_url,
            link_secret=self.secret_key,
            link_lifetime=parse_duration(self.link_lifetime),
            intake_timeout=parse_duration(self.intake_timeout),
            outbreak_window=parse_duration(self.outbreak_window),
            outbreak_min_requests=self.outbreak_min_requests,
            outbreak_min_urgent=self.outbreak_min_urgent,
            instance_dir=str(self.instance_dir),
            outcome_delay=parse_duration(self.outcome_delay),
            score_volume=self.score_volume,
            score_results=self.score_results,
            score_complaint=self.score_complaint,
            score_reopened=self.score_reopened,
            outcome_expiry=parse_duration(self.outcome_expiry),
            advisory_template=self.wechat_template_advisory,
            timezone=self.timezone,
            survey_delay=parse_duration(self.survey_delay),
            survey_reminder=parse_duration(self.survey_reminder),
            survey_expiry=parse_duration(self.survey_expiry),
            survey_template=self.wechat_template_survey,
            quiet_hours=parse_quiet_hours(self.quiet_hours),
            visit_reminder=parse_duration(self.visit_reminder),
            overdue_after=parse_duration(self.overdue_after),
            expert_page_keys=tuple(self.wechat_template_expert_page_keys.split(",")),
            survey_keys=tuple(self.wechat_template_survey_keys.split(",")),
            advisory_keys=tuple(self.wechat_template_advisory_keys.split(",")),
            account_name=self.account_name,
            privacy_contact=self.privacy_contact,
            retention=parse_duration(self.retention),
            unfollow_grace=parse_duration(self.unfollow_grace),
        )

    @property
    def safe_mode(self) -> bool:
        """Whether encrypted (safe/compatible mode) messages can be handled."""
        return self.wechat_encoding_aes_key is not None


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, raising SettingsError with a readable message."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors()
        )
        raise SettingsError(problems) from error
