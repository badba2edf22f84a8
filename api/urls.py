"""API routes, served at the host root like Postmark's.

Paths are lower-cased and stripped of a trailing slash by
``api.middleware.PostmarkPathMiddleware`` before they reach these patterns, so
every pattern here is lower-case without a trailing slash. Each area keeps its
routes in its own view module.
"""

from api.views import (
    accounts,
    bounces,
    email,
    inbound,
    message_streams,
    operations,
    pool_webhooks,
    server,
    stats,
    suppressions,
    templates,
    tracking,
    webhooks,
)
from api.views import messages as messages_views

urlpatterns = [
    *email.urlpatterns,
    *templates.urlpatterns,
    *accounts.urlpatterns,
    *server.urlpatterns,
    *message_streams.urlpatterns,
    *tracking.urlpatterns,  # before messages/outbound/{id}/...
    *messages_views.urlpatterns,
    *inbound.urlpatterns,
    *bounces.urlpatterns,
    *suppressions.urlpatterns,
    *stats.urlpatterns,
    # Before the tenant /webhooks/{id} routes: "bounce" is not a webhook id.
    *pool_webhooks.urlpatterns,
    *webhooks.urlpatterns,
    *operations.urlpatterns,
]
