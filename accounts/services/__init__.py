"""Writes for tenancy, split by concern; callers import from ``accounts.services``."""

from .domains import (
    domain_create,
    domain_delete,
    domain_update,
    domain_verify_dkim,
    domain_verify_return_path,
)
from .servers import (
    DEFAULT_STREAMS,
    SERVER_EDITABLE_FIELDS,
    SERVER_FIELDS,
    Created,
    account_create,
    account_token_create,
    server_create,
    server_delete,
    server_settings_update,
    server_token_create,
    server_update,
    token_revoke,
)
from .users import (
    Invitation,
    invitation_accept,
    invitation_email_send,
    invitation_user,
    membership_invite,
    user_create,
)

__all__ = [
    "DEFAULT_STREAMS",
    "SERVER_EDITABLE_FIELDS",
    "SERVER_FIELDS",
    "Created",
    "Invitation",
    "account_create",
    "account_token_create",
    "domain_create",
    "domain_delete",
    "domain_update",
    "domain_verify_dkim",
    "domain_verify_return_path",
    "invitation_accept",
    "invitation_email_send",
    "invitation_user",
    "membership_invite",
    "server_create",
    "server_delete",
    "server_settings_update",
    "server_token_create",
    "server_update",
    "token_revoke",
    "user_create",
]
