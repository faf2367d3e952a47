"""The three roles (Manager, Operator, Trainee): their permissions, and who is what."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils.translation import gettext_lazy as _

MANAGER = "Manager"
OPERATOR = "Operator"
TRAINEE = "Trainee"
ROLES = (MANAGER, OPERATOR, TRAINEE)
STAFF_ROLES = (MANAGER, OPERATOR)
ROLE_LABELS = {MANAGER: _("Manager"), OPERATOR: _("Operator"), TRAINEE: _("Trainee")}

ALL = ("add", "change", "delete", "view")
VIEW = ("view",)

# group -> app_label -> model -> actions (or extra codenames prefixed with "+").
ROLE_PERMISSIONS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    MANAGER: {
        "dialogs": {"script": ALL, "scriptversion": VIEW},
        "calls": {
            "campaign": ALL,
            "contactlist": ALL,
            "contact": ALL,
            "donotcall": ALL,
            "call": ("view", "+monitor_call"),
            "callevent": VIEW,
            "turn": VIEW,
            "experiment": ALL,
            "experimentvariant": ALL,
        },
        "training": {"trainee": ALL, "scenario": ALL, "trainingsession": ("view", "+rescore_trainingsession"),
                     "sessionturn": VIEW, "score": VIEW, "scorecard": ALL, "scorecardcheck": ALL,
                     "assignment": ALL, "certification": VIEW},
        "crm": {"lead": ALL, "followup": ("view", "change")},
        "django_celery_beat": {
            "periodictask": ALL,
            "crontabschedule": ALL,
            "intervalschedule": ALL,
            "clockedschedule": ALL,
            "solarschedule": VIEW,
        },
        "authtoken": {"tokenproxy": VIEW},
        "analytics": {"dailycallrollup": ("+view_call_analytics", "+export_data")},
    },
    OPERATOR: {
        "dialogs": {"script": VIEW, "scriptversion": VIEW},
        "calls": {
            "campaign": VIEW,
            "contactlist": VIEW,
            "contact": VIEW,
            "donotcall": ("add", "view"),
            "call": ("view", "+monitor_call"),
            "callevent": VIEW,
            "turn": VIEW,
        },
        "crm": {"lead": ("view", "change"), "followup": VIEW},
    },
    TRAINEE: {
        "training": {"scenario": VIEW, "trainingsession": ("add", "view"), "sessionturn": VIEW, "score": VIEW,
                     "assignment": VIEW, "certification": VIEW},
    },
}


def _codenames(model: str, actions: tuple[str, ...]) -> list[str]:
    return [a[1:] if a.startswith("+") else f"{a}_{model}" for a in actions]


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create the groups and give each exactly its permissions. Safe to run any number of times."""
    counts = {}
    for role, apps in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for app_label, models in apps.items():
            for model, actions in models.items():
                codenames = _codenames(model, actions)
                found = list(
                    Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
                )
                wanted.extend(found)
        group.permissions.set(wanted)
        counts[role] = len(wanted)
    return counts


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    # Run once, after the last app, when every permission row exists.
    if getattr(sender, "name", "") == "analytics":
        roles_sync()


def user_role(user: Any) -> str | None:
    """The user's role for routing and display; a superuser counts as a Manager."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return MANAGER
    names = set(user.groups.values_list("name", flat=True))
    for role in ROLES:
        if role in names:
            return role
    return None


@transaction.atomic
def user_assign_role(*, user: Any, role: str) -> Any:
    """Put the user in exactly one role group; staff (admin) access follows the role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))
    user.is_staff = role in STAFF_ROLES or user.is_superuser
    user.save(update_fields=["is_staff"])
    return user
