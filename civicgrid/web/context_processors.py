from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "TILE_URL": settings.CIVICGRID_TILE_URL,
        "TILE_ATTRIBUTION": settings.CIVICGRID_TILE_ATTRIBUTION,
    }
