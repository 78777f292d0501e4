"""Which item links a digest may carry: http(s) only, re-encoded so no renderer can be broken.

Feed-supplied URLs reach mail clients and Slack. A `javascript:` or `data:` URL must never
become a link, and characters that end an HTML attribute or a Slack `<url|text>` link
(quotes, angle brackets, the pipe, spaces) must not survive raw.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

MAX_URL_LENGTH = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Everything already legal in a URL stays as written (including existing %-escapes);
# what is left — quotes, <, >, |, backslash, spaces, non-ASCII — is %-encoded.
_SAFE = "!#$%&()*+,-./:;=?@[]_~"
_BAD_HOST = re.compile(r"[\s\"'<>|\\^`{}%]")


def safe_link(url: str | None) -> str | None:
    """Return `url` fit to link to, or None when it is not an absolute http(s) URL.

    Leading/trailing whitespace and control characters are dropped (browsers ignore them, so
    "java\\tscript:" would otherwise slip through); spaces inside are %-encoded, the scheme and host are lower-cased, and
    characters unsafe in HTML attributes or Slack links are %-encoded. URLs longer than
    MAX_URL_LENGTH are refused.
    """
    if not url:
        return None
    cleaned = _CONTROL.sub("", url.strip())
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        # "https://trusted.example@evil.example/" reads as trusted but is not.
        return None
    netloc = parts.netloc.lower()
    if _BAD_HOST.search(netloc):
        return None
    rebuilt = urlunsplit((parts.scheme.lower(), netloc, quote(parts.path, safe=_SAFE),
                          quote(parts.query, safe=_SAFE), quote(parts.fragment, safe=_SAFE)))
    return rebuilt if len(rebuilt) <= MAX_URL_LENGTH else None
