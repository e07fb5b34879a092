"""Settings: safe defaults, no working secret outside development."""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError, load_settings

PRODUCTION = {
    "env": "production",
    "secret_key": "s" * 32,
    "wechat_token": "Token2026Farmhelp",
    "wechat_app_id": "wx0123456789abcdef",
    "wechat_app_secret": "0123456789abcdef0123456789abcdef",
}


def test_development_secrets_are_random_per_process() -> None:
    first, second = Settings(env="development"), Settings(env="development")
    assert first.secret_key and first.secret_key != second.secret_key
    assert first.wechat_token != second.wechat_token


def test_production_refuses_missing_secrets() -> None:
    with pytest.raises(SettingsError, match="WECHAT_APP_SECRET"):
        load_settings(**(PRODUCTION | {"wechat_app_secret": ""}))


def test_production_refuses_short_secret_key() -> None:
    with pytest.raises(SettingsError, match="16 characters"):
        load_settings(**(PRODUCTION | {"secret_key": "short"}))


def test_production_with_everything_set() -> None:
    settings = load_settings(**PRODUCTION)
    assert settings.safe_mode is False
    assert settings.database_url.startswith("sqlite:///")
    assert settings.wechat_api_base_url == "https://api.weixin.qq.com/cgi-bin/"


def test_bad_aes_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="WECHAT_ENCODING_AES_KEY"):
        load_settings(wechat_encoding_aes_key="too-short")


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_API_BASE_URL", "http://127.0.0.1:8081/cgi-bin")
    monkeypatch.setenv("FARMHELP_DATABASE_URL", "postgresql://u@h/db")
    settings = load_settings()
    assert settings.wechat_api_base_url == "http://127.0.0.1:8081/cgi-bin/"
    assert settings.database_url == "postgresql://u@h/db"
