"""Admin for API logins (JWT refresh tokens): who holds one and until when, never the token itself."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework_simplejwt.token_blacklist.admin import OutstandingTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

admin.site.unregister(OutstandingToken)


@admin.register(OutstandingToken)
class ApiLoginAdmin(OutstandingTokenAdmin):
    """The stock admin shows the whole refresh token on its page: whoever may view it could log in as its user."""

    exclude = ("token",)
    actions = ["revoke"]

    def get_readonly_fields(self, *args, **kwargs) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "token"]

    def get_actions(self, request):
        # the stock admin turns actions off; revoking is the one thing worth doing here
        return admin.ModelAdmin.get_actions(self, request)

    @admin.action(description=_("Revoke the selected API logins"), permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        count = 0
        for token in queryset:
            _row, created = BlacklistedToken.objects.get_or_create(token=token)
            count += created
        self.message_user(request, ngettext("%(count)d API login revoked.", "%(count)d API logins revoked.", count)
                          % {"count": count}, messages.SUCCESS)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("token_blacklist.add_blacklistedtoken")
