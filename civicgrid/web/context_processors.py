from django.conf import settings
from django.http import HttpRequest

LARGE_TEXT_COOKIE = "civicgrid_large_text"


def large_text_on(request: HttpRequest) -> bool:
    """Large-text mode: the browser's cookie if set, else the user's saved preference."""
    cookie = request.COOKIES.get(LARGE_TEXT_COOKIE)
    if cookie in ("0", "1"):
        return cookie == "1"
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and getattr(user, "large_text", False))


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "TILE_URL": settings.CIVICGRID_TILE_URL,
        "TILE_ATTRIBUTION": settings.CIVICGRID_TILE_ATTRIBUTION,
        "LARGE_TEXT": large_text_on(request),
    }
