"""
The emulated routes: paths, the route keys that counters and faults use, and their aliases.
"""

from __future__ import annotations

TOKEN_PATH = "/api/v1/auth/jwt/token"
BASIC_PATH = "/api/v1/auth/jwt/token/basic"
CLIENTS_PATH = "/api/v1/clients/"
CLIENT_PATH_TEMPLATE = "/api/v1/clients/{client_id}"
USERS_ME_PATH = "/api/v1/users/me"
CONTROL_PREFIX = "/_emulator"

BASIC = f"GET {BASIC_PATH}"
TOKEN = f"POST {TOKEN_PATH}"
CREATE_CLIENT = f"POST {CLIENTS_PATH}"
LIST_CLIENTS = f"GET {CLIENTS_PATH}"
DELETE_CLIENT = f"DELETE {CLIENT_PATH_TEMPLATE}"
USERS_ME = f"GET {USERS_ME_PATH}"

# Short names accepted wherever a route key is (CLI flags, Fault.route, handle.count()).
ROUTE_ALIASES = {
    "basic": BASIC,
    "token": TOKEN,
    "clients": CREATE_CLIENT,
    "create-client": CREATE_CLIENT,
    "list-clients": LIST_CLIENTS,
    "delete-client": DELETE_CLIENT,
    "me": USERS_ME,
}
ANY_ROUTE = "*"


def canonical_route(route: str) -> str:
    """
    Return the route key for an alias, ``*`` or a key given as ``METHOD /path``.

    Raises:
        ValueError: when *route* is none of those.
    """
    text = " ".join(route.split())
    if text == ANY_ROUTE:
        return text
    if text.lower() in ROUTE_ALIASES:
        return ROUTE_ALIASES[text.lower()]
    method, _, path = text.partition(" ")
    if not method.isalpha() or not path.startswith("/"):
        raise ValueError(
            f"{route!r} is not a route; use '*', one of {', '.join(sorted(ROUTE_ALIASES))} "
            "or 'METHOD /path'"
        )
    return f"{method.upper()} {path}"
