"""Web UI routes, mounted under /ui/ (the API keeps the host root)."""

from django.urls import path

from .views import auth, bounces, inbound, servers, settings, templates

app_name = "web"

S = "servers/<int:server_id>/"

urlpatterns = [
    path("", servers.server_index, name="index"),
    path("login", auth.login_view, name="login"),
    path("logout", auth.logout_view, name="logout"),
    path("invite/<str:uidb64>/<str:token>", auth.invite_accept, name="invite_accept"),
    path("accounts/<int:account_id>/team", settings.team, name="team"),
    path(S + "activity", servers.activity, name="activity"),
    path(S + "messages/<str:message_id>", servers.message_detail, name="message"),
    path(
        S + "messages/<str:message_id>/html", servers.message_html, name="message_html"
    ),
    path(S + "messages/<str:message_id>/raw", servers.message_raw, name="message_raw"),
    path(S + "bounces", bounces.bounce_list, name="bounces"),
    path(S + "bounces/<int:bounce_id>", bounces.bounce_detail, name="bounce_detail"),
    path(
        S + "bounces/<int:bounce_id>/activate",
        bounces.bounce_activate,
        name="bounce_activate",
    ),
    path(S + "inbound", inbound.inbound_list, name="inbound"),
    path(S + "inbound/<str:message_id>", inbound.inbound_detail, name="inbound_detail"),
    path(
        S + "inbound/<str:message_id>/<str:action>",
        inbound.inbound_action,
        name="inbound_action",
    ),
    path(S + "suppressions", bounces.suppression_list, name="suppressions"),
    path(
        S + "suppressions/remove", bounces.suppression_remove, name="suppression_remove"
    ),
    path(S + "suppressions.csv", bounces.suppression_csv, name="suppression_csv"),
    path(S + "statistics", servers.statistics, name="statistics"),
    path(S + "templates", templates.template_list, name="templates"),
    path(S + "templates/new", templates.template_edit, name="template_create"),
    path(
        S + "templates/<int:template_id>",
        templates.template_detail,
        name="template_detail",
    ),
    path(
        S + "templates/<int:template_id>/edit",
        templates.template_edit,
        name="template_edit",
    ),
    path(
        S + "templates/<int:template_id>/preview",
        templates.template_preview_html,
        name="template_preview_html",
    ),
    path(S + "settings", settings.server_settings, name="settings"),
    path(S + "settings/tokens", settings.token_create, name="token_create"),
    path(
        S + "settings/tokens/<int:token_id>/revoke",
        settings.token_revoke,
        name="token_revoke",
    ),
    path(S + "settings/webhooks", settings.webhooks_update, name="webhooks_update"),
    path(S + "settings/retention", settings.retention_update, name="retention_update"),
    path(
        S + "settings/domains/<int:domain_id>/verify",
        settings.domain_verify,
        name="domain_verify",
    ),
]
