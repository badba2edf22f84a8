"""The demo tenant that ``make run`` sets up (``manage.py demo_setup``).

Tokens are stored hashed, so a re-run cannot show an old token again. The demo
keeps the plaintext of its server token (and account token, and the web UI
password) in files under ``settings.VAR_DIR`` with mode 0600 and reuses them while
they still work; a missing or revoked one is replaced by a fresh one. These files
exist only for the local demo; production tenants never have plaintext on disk.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from . import selectors, services
from .models import Account, Domain, Membership, Server

DEMO_ACCOUNT = "Demo"
DEMO_SERVER = "Demo Server"
DEMO_USER = "demo@example.com"
SERVER_TOKEN_FILE = "demo-token"
ACCOUNT_TOKEN_FILE = "demo-account-token"
PASSWORD_FILE = "demo-password"


@dataclass(frozen=True)
class Demo:
    account: Account
    server: Server
    domain: Domain
    server_token: str
    account_token: str
    username: str
    password: str


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)  # also when the file existed with wider permissions


def demo_ensure(*, var_dir: Path | None = None) -> Demo:
    """Find or create the demo account, server, sender domain and web UI user.

    Idempotent: a second call returns the same rows and the same tokens and
    password (read back from ``var_dir``). Not safe to run concurrently with
    itself (two first runs could both create an account named "Demo").
    """
    var_dir = Path(var_dir or settings.VAR_DIR)
    account = Account.objects.filter(name=DEMO_ACCOUNT).order_by("id").first()
    account_token = _read_secret(var_dir / ACCOUNT_TOKEN_FILE)
    if account is None:
        created_account = services.account_create(name=DEMO_ACCOUNT)
        account, account_token = created_account.obj, created_account.token
        _write_secret(var_dir / ACCOUNT_TOKEN_FILE, account_token)
    elif selectors.account_for_token(token=account_token) != account:
        account_token = services.account_token_create(
            account=account, name="demo"
        ).token
        _write_secret(var_dir / ACCOUNT_TOKEN_FILE, account_token)

    server = selectors.server_list(account=account).filter(name=DEMO_SERVER).first()
    server_token = _read_secret(var_dir / SERVER_TOKEN_FILE)
    if server is None:
        created_server = services.server_create(account=account, name=DEMO_SERVER)
        server, server_token = created_server.obj, created_server.token
        _write_secret(var_dir / SERVER_TOKEN_FILE, server_token)
    elif selectors.server_for_token(token=server_token) != server:
        server_token = services.server_token_create(server=server, name="demo").token
        _write_secret(var_dir / SERVER_TOKEN_FILE, server_token)

    domain = (
        selectors.domain_list(account=account)
        .filter(name=settings.DEMO_DOMAIN.lower())
        .first()
    ) or services.domain_create(account=account, name=settings.DEMO_DOMAIN)

    password = _ensure_user(var_dir, account)
    return Demo(
        account=account,
        server=server,
        domain=domain,
        server_token=server_token,
        account_token=account_token,
        username=DEMO_USER,
        password=password,
    )


def _ensure_user(var_dir: Path, account: Account) -> str:
    """The demo web UI user, with the password kept in ``var_dir``."""
    User = get_user_model()
    password = _read_secret(var_dir / PASSWORD_FILE)
    with transaction.atomic():
        user, created = User.objects.get_or_create(
            username=DEMO_USER, defaults={"email": DEMO_USER}
        )
        if created or not password or not user.check_password(password):
            password = password or secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
            _write_secret(var_dir / PASSWORD_FILE, password)
        # The demo user administers the demo account in the web UI.
        Membership.objects.get_or_create(
            user=user, account=account, defaults={"role": Membership.Role.ADMIN}
        )
    return password
