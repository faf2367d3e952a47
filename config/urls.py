"""URL map: the consoles, the API with its schema and docs, health and metrics."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework_simplejwt.views import TokenBlacklistView, TokenRefreshView

from analytics.api import AnalyticsView
from config import views
from config.api import router
from config.auth import TokenObtainView
from crm.views import telegram_webhook

admin.site.site_header = _("Voice sales platform")
admin.site.site_title = _("Voice sales platform")
admin.site.index_title = _("Administration")

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("metrics", views.metrics, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/analytics/", AnalyticsView.as_view(), name="api-analytics"),
    path("api/", include(router.urls)),
    path("api/auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("api/auth/token/refresh/", TokenRefreshView.as_view(), name="api-token-refresh"),
    path("api/auth/token/revoke/", TokenBlacklistView.as_view(), name="api-token-revoke"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("training/", include("training.urls")),
    path("calls/", include("calls.urls")),
    path("analytics/", include("analytics.urls")),
    path("telegram/webhook/", telegram_webhook, name="telegram_webhook"),  # Telegram's secret header
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"

# Nothing under MEDIA_URL is served by URL, in any setting: recordings go through views that check the
# role (calls:call_recording, training:session_audio; config.media).
