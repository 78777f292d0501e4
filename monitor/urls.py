"""Canonical forms of article URLs, so one story reached by different links is stored once.

Only http(s) URLs have a canonical form; everything else (mailto:, javascript:, tag: ids,
garbage) maps to None so callers never dedupe on something that is not a web page.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import idna

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that only ever carry analytics (which campaign, mail-out, ad click or share
# button a visitor came from) and never select content, so dropping them cannot merge two
# different articles. The core is the list Miniflux's URL cleaner uses (itself drawn from
# Firefox's query-stripping list and the Brave/AdGuard tracking-parameter filters); to it we add
# the analytics parameters news publishers append to feed and share links (AT Internet/Piano
# `at_*` on BBC links, comScore `ns_*`, NYT `smid`/`smtyp`, `cmpid`, Instagram `igshid`,
# Twitter `ref_src`/`ref_url`). Ambiguous names such as `ref`, `source`, `from`, `cmp` or `id`
# are deliberately absent: some sites route on them.
_TRACKING_PARAMS = frozenset({
    # Google Ads / Analytics / Display & Video
    "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "_ga", "_gl", "srsltid",
    "campaign_id", "campaign_medium", "campaign_name", "campaign_source", "campaign_term",
    "campaign_content", "itm_campaign", "itm_medium", "itm_source",
    # Facebook / Instagram
    "fbclid", "fb_action_ids", "fb_action_types", "fb_ref", "fb_source", "fb_comment_id",
    "igshid", "igsh",
    # Microsoft, Yandex, Twitter/X, TikTok, LinkedIn click ids
    "msclkid", "yclid", "ysclid", "_openstat", "twclid", "ttclid", "li_fat_id",
    "ref_src", "ref_url",
    # Mailchimp, HubSpot, Marketo, Adobe, Vero, Olytics, Beehiiv, Branch, Wicked Reports
    "mc_cid", "mc_eid", "mc_tc", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp",
    "hsctatracking", "hsa_cam", "mkt_tok", "sc_cid", "vero_id", "vero_conv", "rb_clickid",
    "oly_anon_id", "oly_enc_id", "_bhlid", "_branch_match_id", "_branch_referrer", "wickedid",
    # Publishers' own analytics: AT Internet/Piano (BBC), comScore, NYT share ids, campaign ids
    "at_medium", "at_campaign", "at_link", "at_link_id", "at_link_type", "at_link_origin",
    "at_format", "at_ptr_name", "at_bbc_team", "ns_mchannel", "ns_source", "ns_campaign",
    "ns_linkname", "ns_fee", "smid", "smtyp", "cmpid", "ocid",
})
# utm_* is Google Analytics' campaign family, mtm_*/pk_* are Matomo's (and Piwik's) equivalents,
# at_custom* are AT Internet's numbered custom campaign fields.
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "at_custom")

# After IDNA encoding a host may only hold these; anything else (spaces, quotes, '%') means the
# URL is broken, and a broken URL must not become a dedup key.
_HOST_RE = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


def feed_url_problem(url: str) -> str | None:
    """Why `url` (already stripped) cannot be polled as a feed, or None when it can.

    The reason reads after the URL: "'ftp://x' is not an http:// or https:// URL".
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # a port that is not a number, or out of range, raises here
    except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 address)
        return f"is not a valid URL ({exc})"
    if parts.scheme not in _DEFAULT_PORTS or not host:
        return "is not an http:// or https:// URL"
    # A space in the host, or a control character anywhere, can never be fetched: every poll
    # would fail. (A space in the path is percent-encoded by the HTTP client.)
    if any(c.isspace() for c in parts.netloc) or any(ord(c) < 32 or ord(c) == 127 for c in url):
        return "has a space or control character in its address"
    return None


def is_tracking_param(name: str) -> bool:
    """Return True if the (decoded) query parameter name only carries analytics."""
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """Return the canonical form of an http(s) URL, or None if there is none.

    `url` is first resolved against `base` (when given). Then: scheme and host are lower-cased
    (international host names become their IDNA "xn--" form), the default port is dropped,
    the fragment is dropped, tracking parameters (see `is_tracking_param`) are removed, the
    remaining parameters are sorted by decoded name (stable, so repeated names keep their
    relative order; each pair keeps its original percent-encoding) and an empty path becomes
    "/". The path is otherwise left as it is: servers may treat case and trailing slashes as
    meaningful. Returns None for empty, non-http(s), host-less or unparsable URLs. Never raises.
    """
    if not url or not url.strip():
        return None
    try:
        absolute = urljoin(base.strip(), url.strip()) if base else url.strip()
        parts = urlsplit(absolute)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        host = _ascii_host(parts.hostname)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        return None
    if host is None:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", _clean_query(parts.query), ""))


def url_host(url: str | None) -> str | None:
    """Return the lower-case ASCII (IDNA) host of an http(s) URL, without port; else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in _DEFAULT_PORTS:
            return None
        return _ascii_host(parts.hostname)
    except ValueError:
        return None


def _ascii_host(hostname: str | None) -> str | None:
    """Return `hostname` (already lower-cased by urlsplit) in ASCII form, or None if invalid."""
    if not hostname:
        return None
    if ":" in hostname:  # IPv6 literal; urlsplit has already checked the brackets
        return hostname if re.fullmatch(r"[0-9a-f:.]+", hostname) else None
    host = hostname.rstrip(".")  # "example.com." names the same host as "example.com"
    if not host.isascii():
        try:
            # UTS 46 mapping first (IDNA 2008, what browsers do); the stdlib codec (IDNA 2003)
            # as a fallback accepts a few older names that IDNA 2008 rejects.
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
        host = host.lower()
    return host if _HOST_RE.fullmatch(host) else None


def _clean_query(query: str) -> str:
    """Drop tracking parameters and empty pairs, then sort the rest stably by decoded name."""
    if not query:
        return ""
    kept: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = unquote_plus(pair.split("=", 1)[0])
        if not is_tracking_param(name):
            kept.append((name, pair))
    kept.sort(key=lambda item: item[0])  # list.sort is stable: repeated names keep their order
    return "&".join(pair for _, pair in kept)
