"""API logins (JWT): the token endpoint (with brute-force lockout) and a refresh that obeys revocation."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password
from rest_framework_simplejwt.views import TokenObtainPairView


class RevocableTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt checks the password claim (CHECK_REVOKE_TOKEN) on access tokens only; refreshes must obey it too."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = RefreshToken(attrs["refresh"])
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        if user is None:
            raise AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account")
        if api_settings.CHECK_REVOKE_TOKEN and (
                refresh.payload.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password)):
            raise AuthenticationFailed(self.error_messages["no_active_account"], "password_changed")
        return super().validate(attrs)


class TokenObtainView(TokenObtainPairView):
    """``POST /api/auth/token/``: django-axes marks a lockout on DRF's request; pass it on to its middleware."""

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        drf_request = getattr(self, "request", None)
        if drf_request is not None and getattr(drf_request, "axes_locked_out", False):
            request.axes_locked_out = True
            request.axes_credentials = getattr(drf_request, "axes_credentials", None)
        return response
