"""Operator commands: ``create_account`` and ``demo_setup``."""

from __future__ import annotations

import json
import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Account, Domain, Server

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_account_prints_one_json_line_with_a_working_token(api):
    output = run("create_account", "Initech")
    lines = output.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {"AccountID", "AccountToken"}
    assert Account.objects.get(id=data["AccountID"]).name == "Initech"
    response = api.send_json(
        "GET", "/servers", HTTP_X_POSTMARK_ACCOUNT_TOKEN=data["AccountToken"]
    )
    assert response.status_code == 200
    assert response.json() == {"TotalCount": 0, "Servers": []}


def test_create_account_refuses_an_empty_name():
    with pytest.raises(CommandError):
        run("create_account", "  ")


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    # PBKDF2's deliberate slowness costs seconds per test and proves nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return tmp_path


def printed_token(output: str) -> str:
    line = next(x for x in output.splitlines() if x.startswith("Server token:"))
    return line.split()[2]


def test_demo_setup_creates_a_tenant_that_can_send(api, var_dir):
    output = run("demo_setup")
    token = printed_token(output)
    server = Server.objects.get(name="Demo Server")
    assert server.account.name == "Demo"
    assert Domain.objects.get(account=server.account).name == "example.com"
    token_file = var_dir / "demo-token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    curl = next(x for x in output.splitlines() if x.startswith("curl "))
    assert "http://127.0.0.1:8000/email" in curl
    assert f"X-Postmark-Server-Token: {token}" in curl
    # The printed curl body is a real, accepted message.
    body = json.loads(curl.split(" -d ", 1)[1].strip("'"))
    response = api.send_json("POST", "/email", body, HTTP_X_POSTMARK_SERVER_TOKEN=token)
    assert response.status_code == 200, response.content
    assert response.json()["ErrorCode"] == 0


def test_demo_setup_is_idempotent_and_reuses_its_token(var_dir):
    first = run("demo_setup")
    second = run("demo_setup")
    assert printed_token(first) == printed_token(second)
    assert Account.objects.filter(name="Demo").count() == 1
    assert Server.objects.filter(name="Demo Server").count() == 1
    assert Domain.objects.filter(name="example.com").count() == 1
    assert get_user_model().objects.filter(username="demo@example.com").count() == 1
    server = Server.objects.get(name="Demo Server")
    assert server.tokens.count() == 1


def test_demo_setup_replaces_a_lost_token_file(var_dir):
    first = printed_token(run("demo_setup"))
    (var_dir / "demo-token").unlink()
    second = printed_token(run("demo_setup"))
    assert second != first
    assert (var_dir / "demo-token").read_text().strip() == second


def test_demo_setup_prints_a_working_web_login(var_dir):
    output = run("demo_setup")
    line = next(x for x in output.splitlines() if x.startswith("Web UI:"))
    password = line.rsplit(" ", 1)[1]
    user = get_user_model().objects.get(username="demo@example.com")
    assert user.check_password(password)
    assert run("demo_setup").count(password) == 1
