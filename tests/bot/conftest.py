"""Fixtures shared by the console's tests: staff of every role, signed in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.bot.test_console import add_staff, sign_in


@pytest.fixture
def staff(cli_env: dict[str, str]) -> None:
    for name, role in (("admin1", "admin"), ("coord1", "coordinator"), ("viewer1", "viewer")):
        add_staff(cli_env, name, role)


@pytest.fixture
def signed_in(app: Flask, staff: None) -> Callable[[str], FlaskClient]:
    def client_for(username: str) -> FlaskClient:
        client = app.test_client()
        assert sign_in(client, username).status_code == 302
        return client

    return client_for
