"""Credentials come only from environment variables and never reach a log, a summary or a table.

Anything the platform prints or stores that may hold a URI (the MLflow tracking URI, a webhook URL,
an error message about either) goes through ``redact`` first.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_SECRET_PARAMS = re.compile(
    r"(?P<key>[?&;](?:access_token|token|password|passwd|pwd|secret|api_key|apikey|key|sig|signature)=)[^&;\s'\"]+",
    re.IGNORECASE,
)
# webhook URLs of chat tools carry their secret in the path (…/services/T000/B000/XXXX)
_SECRET_PATH = re.compile(r"(?P<prefix>https?://[^/\s]+/)(?P<path>[^\s'\"?]+)")
MASK = "***"


def redact(text: str | None) -> str:
    """``text`` with user:password in URIs and secret query parameters masked."""
    if not text:
        return text or ""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m['key']}{MASK}", text)


def redact_url(url: str | None) -> str:
    """A URL shown only as scheme://host/***: for webhooks, whose path is often the secret."""
    if not url:
        return ""
    return _SECRET_PATH.sub(lambda m: f"{m['prefix']}{MASK}", redact(url))
