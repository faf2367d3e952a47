"""Template context shared by every page: the signed-in user's role."""

from config.roles import user_role


def roles(request):
    user = getattr(request, "user", None)
    return {"user_role": user_role(user) if user is not None else None}
