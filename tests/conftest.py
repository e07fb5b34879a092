"""Fixtures: a fresh database per test (SQLite by default, PostgreSQL when
FARMHELP_TEST_DATABASE_URL is set), settings, the app, and a fake WeChat."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, MetaData, text
from sqlmodel import Session, SQLModel

from bot import create_app
from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from models.db import make_engine
from models.generations import forget_all
from models.migrate import upgrade_database
from tests.fake_wechat_api import FakeWeChatAPI, fake_api  # noqa: F401  (a fixture)
from tests.wechat_client import FakeWeChat

TEST_TOKEN = "farmhelp-test-token"
TEST_APP_ID = "wx0123456789abcdef"
TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
POSTGRES_URL = os.environ.get("FARMHELP_TEST_DATABASE_URL") or None
REDIS_URL = os.environ.get("FARMHELP_TEST_REDIS_URL") or None


def require_service(name: str, url: str | None) -> str:
    """Return the service URL; skip (or, in CI, fail) when it is not configured."""
    if url:
        return url
    message = f"{name} is not configured (set FARMHELP_TEST_{name.upper()}_URL)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {message}")
    pytest.skip(message)


@contextmanager
def own_postgres_database(prefix: str) -> Iterator[tuple[str, Engine]]:
    """A fresh PostgreSQL database with farmhelp's schema, on the server of
    FARMHELP_TEST_POSTGRES_URL (in either test pass), dropped afterwards.

    Yields its URL and an AUTOCOMMIT engine on the server's admin database.
    """
    admin_url = require_service("postgres", os.environ.get("FARMHELP_TEST_POSTGRES_URL"))
    name = f"{prefix}_{os.getpid()}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        schema = make_engine(url)
        upgrade_database(schema)
        schema.dispose()
        yield url, admin
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "farmhelp.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> str | None:
    if POSTGRES_URL is None:
        return None
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        existing = MetaData()
        existing.reflect(connection)
        existing.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade_database(engine)
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def database_url(
    tmp_path: Path, sqlite_template: Path, postgres_schema: str | None
) -> Iterator[str]:
    forget_all()  # cached places and experts belong to the previous test's database
    if postgres_schema is None:
        path = tmp_path / "farmhelp.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    engine = make_engine(postgres_schema)
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield postgres_schema


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        env="development",
        database_url=database_url,
        secret_key="test-secret-key-0123456789",
        instance_dir=tmp_path / "instance",
        media_dir=tmp_path / "media",
        wechat_token=TEST_TOKEN,
        wechat_app_id=TEST_APP_ID,
        wechat_app_secret="test-app-secret",
        wechat_encoding_aes_key=TEST_AES_KEY,
        wechat_allow_plaintext=True,
        wechat_api_base_url="http://127.0.0.1:9/cgi-bin/",
    )


@pytest.fixture
def make_app() -> Iterator[Callable[[Settings], Flask]]:
    """Build apps from settings; their engines are disposed after the test."""
    apps: list[Flask] = []

    def build(settings: Settings) -> Flask:
        app = create_app(settings)
        app.config.update(TESTING=True)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["farmhelp.engine"].dispose()


@pytest.fixture
def app(settings: Settings, make_app: Callable[[Settings], Flask]) -> Flask:
    return make_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> Engine:
    engine: Engine = app.extensions["farmhelp.engine"]
    return engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture(params=["plaintext", "safe"])
def wechat(request: pytest.FixtureRequest) -> FakeWeChat:
    return FakeWeChat(
        token=TEST_TOKEN,
        app_id=TEST_APP_ID,
        aes_key=TEST_AES_KEY,
        safe_mode=request.param == "safe",
    )


@pytest.fixture
def plain_wechat() -> FakeWeChat:
    return FakeWeChat(token=TEST_TOKEN, app_id=TEST_APP_ID, aes_key=TEST_AES_KEY)


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """The environment a CLI command in the test needs to reach the test database."""
    return {
        "FARMHELP_DATABASE_URL": settings.database_url,
        "FARMHELP_INSTANCE_DIR": str(settings.instance_dir),
        "FARMHELP_TIMEZONE": "Asia/Shanghai",
    }


@pytest.fixture
def county(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The small test county (places, experts, a rota on duty now), imported by the CLI."""
    from models.tables import utcnow
    from tests.roster import import_roster

    import_roster(cli_env, tmp_path, utcnow())


@pytest.fixture
def api(engine: Engine, request: pytest.FixtureRequest) -> WeChatAPI:
    """The real WeChat client, pointed at the local fake API."""
    fake: FakeWeChatAPI = request.getfixturevalue("fake_api")
    return WeChatAPI(base_url=fake.base_url, app_id=TEST_APP_ID, app_secret="s", engine=engine)
