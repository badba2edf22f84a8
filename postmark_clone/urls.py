from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    # The web UI lives under /ui/; the API keeps the host root (Postmark's paths).
    path("ui", RedirectView.as_view(url="/ui/", permanent=False)),
    path("ui/", include("web.urls")),
    path("", include("api.urls")),
]
