"""Sign in (rate-limited), sign out, and accepting an invitation."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from accounts import services as account_services
from postmark_clone.errors import ApplicationError

from .. import ratelimit
from ..forms import AcceptInviteForm, LoginForm


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    """Django's LoginView behind a per (IP, username) failure counter: after
    ``LOGIN_FAILURE_LIMIT`` failures in the window every attempt gets 429, even
    with the right password, until the window ends."""
    if request.method == "POST":
        username = request.POST.get("username", "")
        if ratelimit.login_blocked(request, username):
            return render(
                request,
                "web/login.html",
                {"form": LoginForm(request), "blocked": True},
                status=429,
            )
        response = auth_views.LoginView.as_view(
            template_name="web/login.html",
            authentication_form=LoginForm,
            redirect_authenticated_user=False,
        )(request)
        if request.user.is_authenticated:
            ratelimit.login_succeeded(request, username)
        else:
            ratelimit.login_failed(request, username)
        return response
    if request.user.is_authenticated:
        return redirect("web:index")
    return auth_views.LoginView.as_view(
        template_name="web/login.html", authentication_form=LoginForm
    )(request)


logout_view = auth_views.LogoutView.as_view(next_page="web:login")


@sensitive_post_parameters("password1", "password2")
@never_cache
def invite_accept(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The one-time invitation link: choose a password, then you are signed in."""
    user = account_services.invitation_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "web/invite_invalid.html", status=404)
    form = AcceptInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.invitation_accept(
                user=user, password=form.cleaned_data["password1"]
            )
        except ApplicationError as exc:
            form.add_error("password1", exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("web:index")
    return render(request, "web/invite_accept.html", {"form": form, "invitee": user})
