from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("api.urls")),
]

# Postmark clients expect JSON error bodies on API paths even for errors Django
# answers itself (unknown path, oversized body, bad Host); see api.errors.
handler400 = "api.errors.django_bad_request"
handler403 = "api.errors.django_permission_denied"
handler404 = "api.errors.django_not_found"
handler500 = "api.errors.django_server_error"
