"""Template context shared by every page: the signed-in user's role."""

from config.roles import ROLE_LABELS, user_role


def roles(request):
    user = getattr(request, "user", None)
    role = user_role(user) if user is not None else None
    return {"user_role": role, "user_role_label": ROLE_LABELS.get(role, "")}
