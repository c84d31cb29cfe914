"""The NinjaAPI instance, its auth and the one mapping of CivicError to HTTP."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from civicgrid.core.errors import CivicError

api = NinjaAPI(
    title="civicgrid API",
    version="1",
    description="Cases, categories and grid cells of civicgrid.",
    urls_namespace="api",
    docs_url="/docs",
)


@api.exception_handler(CivicError)
def civic_error(request: HttpRequest, exc: CivicError) -> HttpResponse:
    return api.create_response(request, {"error": exc.as_dict()}, status=exc.http_status)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query"))
        errors.append({"field": loc, "message": err.get("msg", "invalid")})
    body = {"error": {"code": "invalid_input", "message": "The input is not valid.", "fields": errors}}
    return api.create_response(request, body, status=400)


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    body = {"error": {"code": "unauthenticated", "message": "Log in or send a valid token."}}
    return api.create_response(request, body, status=401)
