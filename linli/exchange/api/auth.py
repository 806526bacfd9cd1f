"""API-key authentication of hotline and city-centre systems for the DRF exchange API."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from ..models import ApiClient, ClientKind
from ..services import Principal, authenticate

HEADER = "X-Api-Key"
INTAKE_KINDS = (ClientKind.HOTLINE, ClientKind.CITY_CENTRE)


class ClientPrincipal(Principal):
    """request.user for a client: no account, the client's region as its scope."""

    def __init__(self, client: ApiClient):
        super().__init__([client.region_code], client.active)
        self.client = client
        self.username = f"client:{client.name}"

    def __str__(self) -> str:
        return self.username


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = request.headers.get(HEADER)
        if not key:
            return None
        client = authenticate(key)
        if client is None:
            raise AuthenticationFailed("Invalid or revoked API key.")
        return ClientPrincipal(client), client

    def authenticate_header(self, request):
        return f'ApiKey header="{HEADER}"'


class IsIntakeClient(BasePermission):
    """A hotline or city-centre client's key; Open311 keys use /open311/v2/."""

    message = "This API takes the key of a 12345 hotline or city operations centre client."

    def has_permission(self, request, view):
        client = request.auth
        return isinstance(client, ApiClient) and client.kind in INTAKE_KINDS


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "linli.exchange.api.auth.ApiKeyAuthentication"
    name = "exchangeApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": HEADER,
            "description": "Key of a hotline or city-centre client (linli manage exchange_client create).",
        }
