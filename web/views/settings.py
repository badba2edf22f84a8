"""Server settings (API tokens, sender domains, webhooks, retention) and the
account's team (members and invitations)."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import Membership
from postmark_clone.errors import ApplicationError

from ..access import account_for_request, require_admin, server_for_request
from ..forms import InviteForm, RetentionForm, TokenCreateForm, WebhooksForm
from ..selectors import account_members, server_token_get

# The session key holding a just-created token until the next page view shows it
# once. Server-side session storage: flash messages may live in a (signed, not
# encrypted) cookie, which must never carry a secret.
NEW_TOKEN_SESSION_KEY = "web:new-token"
WEBHOOK_FIELDS = list(WebhooksForm.base_fields)


def _domain_verification_available() -> bool:
    """The one place that knows whether DNS verification exists in this build
    (the domains issue adds ``accounts.services.domain_verify_dkim`` and
    ``domain_verify_return_path``). Without it the page shows records and state
    only and hides the buttons."""
    return hasattr(account_services, "domain_verify_dkim") and hasattr(
        account_services, "domain_verify_return_path"
    )


def _settings_context(request: HttpRequest, access, **forms) -> dict:
    server = access.server
    domains = list(account_selectors.domain_list(account=server.account))
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    if new_token and new_token.get("server_id") != server.id:
        new_token = None
    return {
        "access": access,
        "server": server,
        "tab": "settings",
        "tokens": list(account_selectors.server_tokens(server=server)),
        "new_token": new_token,
        "domains": domains,
        "return_path_target": django_settings.RETURN_PATH_CNAME_TARGET,
        "can_verify_domains": _domain_verification_available(),
        "token_form": forms.get("token_form") or TokenCreateForm(),
        "webhooks_form": forms.get("webhooks_form")
        or WebhooksForm(initial={f: getattr(server, f) for f in WEBHOOK_FIELDS}),
        "retention_form": forms.get("retention_form")
        or RetentionForm(initial={"retention_days": server.retention_days}),
    }


@login_required
@require_GET
def server_settings(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    return render(request, "web/settings.html", _settings_context(request, access))


def _back(server_id: int, anchor: str) -> HttpResponse:
    return redirect(reverse("web:settings", args=[server_id]) + f"#{anchor}")


@login_required
@require_POST
def token_create(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    require_admin(access.role)
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "web/settings.html",
            _settings_context(request, access, token_form=form),
            status=400,
        )
    created = account_services.server_token_create(
        server=access.server, name=form.cleaned_data["name"]
    )
    request.session[NEW_TOKEN_SESSION_KEY] = {
        "server_id": access.server.id,
        "id": created.obj.id,
        "token": created.token,
    }
    return _back(access.server.id, "tokens")


@login_required
@require_POST
def token_revoke(request: HttpRequest, server_id: int, token_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    require_admin(access.role)
    token = server_token_get(server=access.server, token_id=token_id)
    if token is None:
        raise Http404("No such token.")
    account_services.token_revoke(token=token)
    flash.success(request, f"Token {token.masked} revoked; it no longer works.")
    return _back(access.server.id, "tokens")


@login_required
@require_POST
def webhooks_update(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    require_admin(access.role)
    form = WebhooksForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "web/settings.html",
            _settings_context(request, access, webhooks_form=form),
            status=400,
        )
    account_services.server_settings_update(
        server=access.server, fields=form.cleaned_data
    )
    flash.success(request, "Webhook URLs saved.")
    return _back(access.server.id, "webhooks")


@login_required
@require_POST
def retention_update(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    require_admin(access.role)
    form = RetentionForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "web/settings.html",
            _settings_context(request, access, retention_form=form),
            status=400,
        )
    account_services.server_settings_update(
        server=access.server, fields=form.cleaned_data
    )
    flash.success(
        request, f"Messages are kept for {form.cleaned_data['retention_days']} days."
    )
    return _back(access.server.id, "retention")


@login_required
@require_POST
def domain_verify(request: HttpRequest, server_id: int, domain_id: int) -> HttpResponse:
    """Re-check a domain's DKIM and Return-Path DNS records (when available).
    DNS lookups happen in the service, outside any transaction."""
    access = server_for_request(request, server_id)
    require_admin(access.role)
    domain = account_selectors.domain_get(
        account=access.server.account, domain_id=domain_id
    )
    if domain is None or not _domain_verification_available():
        raise Http404("No such domain.")
    try:
        account_services.domain_verify_dkim(domain=domain)
        account_services.domain_verify_return_path(domain=domain)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, f"Checked the DNS records of {domain.name}.")
    return _back(access.server.id, "domains")


@login_required
def team(request: HttpRequest, account_id: int) -> HttpResponse:
    """Members of an account; admins invite new ones (POST)."""
    account, role = account_for_request(request, account_id)
    form = InviteForm(request.POST or None)
    invite_link = ""
    if request.method == "POST":
        require_admin(role)
        if form.is_valid():
            invite_link = _invite(request, account, form)
            if not invite_link:
                return redirect("web:team", account_id=account.id)
            form = InviteForm()
    members = account_members(account=account)
    return render(
        request,
        "web/team.html",
        {
            "account": account,
            "role": role,
            "is_admin": role == Membership.Role.ADMIN,
            "members": members,
            "form": form,
            "invite_link": invite_link,
        },
    )


def _invite(request: HttpRequest, account, form: InviteForm) -> str:
    """Invite and try to email the link. Returns the link when the inviter must
    pass it on by hand (no system server configured, or sending failed)."""
    email = form.cleaned_data["email"]
    try:
        invitation = account_services.membership_invite(
            account=account, email=email, role=form.cleaned_data["role"]
        )
    except ApplicationError as exc:
        flash.error(request, exc.message)
        return ""
    if not invitation.pending:
        flash.success(request, f"{email} already had an account and can sign in now.")
        return ""
    path = reverse("web:invite_accept", args=[invitation.uidb64, invitation.token])
    link = django_settings.SITE_URL.rstrip("/") + path
    try:
        sent = account_services.invitation_email_send(
            email=email, account=account, link=link
        )
    except ApplicationError as exc:
        sent, problem = False, f"The invitation email could not be sent: {exc.message}"
    else:
        problem = "No invitation sender is configured"
    if sent:
        flash.success(request, f"Invitation sent to {email}.")
        return ""
    if not invitation.link_may_be_shown:
        flash.error(
            request,
            f"{problem}, and {email} has a pending invitation to another account, "
            "so the link can only go to their mailbox. They can join once they "
            "have accepted that invitation.",
        )
        return ""
    flash.info(request, f"{problem}; pass this link on yourself.")
    return link
