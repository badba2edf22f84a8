from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from web.views.unsubscribe import unsubscribe_page

urlpatterns = [
    path("admin/", admin.site.urls),
    # The web UI lives under /ui/; the API keeps the host root (Postmark's paths).
    path("ui", RedirectView.as_view(url="/ui/", permanent=False)),
    path("ui/", include("web.urls")),
    # Broadcast unsubscribe links (public; docs/streams.md).
    path("unsubscribe/<str:token>", unsubscribe_page, name="unsubscribe"),
    # Open pixel and click redirect (/t/o/<token>, /t/c/<token>): tokens are
    # case-sensitive, so api.middleware leaves /t/ paths alone.
    path("", include("tracking.views")),
    path("", include("api.urls")),
]

# Postmark clients expect JSON error bodies on API paths even for errors Django
# answers itself (unknown path, oversized body, bad Host); see api.errors.
handler400 = "api.errors.django_bad_request"
handler403 = "api.errors.django_permission_denied"
handler404 = "api.errors.django_not_found"
handler500 = "api.errors.django_server_error"
