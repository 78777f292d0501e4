"""Read and write OPML subscription lists, the format feed readers use to trade lists of feeds.

Folders (outlines without an ``xmlUrl``) and the OPML ``category`` attribute become tags:
a feed inside ``International › Middle East`` gets the tags ``international`` and
``middle-east``. Tags are case-folded with runs of spaces turned into ``-`` so the same folder
spelled two ways is one tag. Pure functions; `load_opml` is the one thin file-reading edge.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lxml import etree  # type: ignore[import-untyped]

from monitor.errors import ConfigError
from monitor.urls import feed_url_problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription from an OPML file."""

    url: str                              # xmlUrl: the feed itself
    name: str | None = None               # the outline's title, else its text
    site_url: str | None = None           # htmlUrl: the outlet's web site
    tags: tuple[str, ...] = field(default=())  # enclosing folders, then `category` entries


# OPML comes from outside (exports from other tools, files mailed around), so the parser
# never fetches anything, never loads external DTDs or entities, and keeps libxml2's limits
# on huge documents. Entity declarations are refused outright after parsing (see below).
def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True)


def parse_opml(data: bytes, *, source: str = "<opml>") -> list[OpmlFeed]:
    """Return the feeds listed in an OPML document, in document order, one per feed URL.

    `source` names the document in error messages (normally its file name). Outlines with an
    ``xmlUrl`` are feeds; outlines without one are folders whose names become tags of every
    feed inside them (nested folders give one tag per level). ``category="/a/b,/c"`` adds the
    tags ``a``, ``b`` and ``c``. A ``feed://`` URL is read as ``http://``. When the same URL
    (compared with scheme and host case-folded) appears twice, the first outline wins, gaps in
    its name and site URL are filled from the later ones, and the tags are merged.

    A name that merely repeats the feed URL is treated as no name (readers write the URL into
    the required ``text`` attribute when they know no title).

    Raises ConfigError ("SOURCE: line N: reason") when the bytes are not well-formed XML,
    declare entities, are not OPML, or list a feed URL that is not http(s).
    """
    if not data.strip():
        raise ConfigError(f"{source}: line 1: the file is empty; expected an OPML document")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        reason = exc.msg.split(", line ")[0] if exc.msg else "syntax error"
        raise ConfigError(f"{source}: line {line}: not well-formed XML: {reason}; "
                          "export the OPML again or fix it in a text editor") from exc
    tree = root.getroottree()
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise ConfigError(f"{source}: line 1: the document declares XML entities, which OPML never "
                          "needs; refused for safety")
    if _local_name(root) != "opml":
        raise ConfigError(f"{source}: line {root.sourceline}: root element is <{_local_name(root)}>, "
                          "not <opml>; is this an OPML export?")
    body = next((child for child in _elements(root) if _local_name(child) == "body"), None)
    if body is None:
        raise ConfigError(f"{source}: line {root.sourceline}: <opml> has no <body>; "
                          "there are no outlines to import")

    merged: dict[str, OpmlFeed] = {}
    for feed in _walk(body, (), source):
        key = _url_key(feed.url)
        first = merged.get(key)
        if first is None:
            merged[key] = feed
            continue
        logger.debug("%s: %s listed more than once; merging", source, feed.url)
        merged[key] = replace(first, name=first.name or feed.name,
                              site_url=first.site_url or feed.site_url,
                              tags=_unique(first.tags + feed.tags))
    return list(merged.values())


def load_opml(path: Path | str) -> list[OpmlFeed]:
    """Return the feeds of the OPML file at `path` (see `parse_opml`).

    Raises ConfigError when the file cannot be read or is not valid OPML.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read OPML file: {exc.strerror or exc}") from exc
    return parse_opml(data, source=str(path))


def render_opml(feeds: Iterable[OpmlFeed], *, title: str = "monitor feeds") -> str:
    """Return an OPML 2.0 document (UTF-8 declared, as text) listing `feeds` in the given order.

    Each feed's first tag becomes its folder and its other tags go to ``category``; feeds
    without tags sit at the top level. Consecutive feeds sharing a first tag share a folder,
    so ``parse_opml(render_opml(feeds).encode())`` gives back `feeds` unchanged whenever they
    carry normalised tags, distinct URLs and names that are not their own URL — which is
    everything `parse_opml` returns.
    """
    opml = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(opml, "body")
    folder: ET.Element | None = None
    folder_tag: str | None = None
    for feed in feeds:
        if not feed.tags:
            parent, folder, folder_tag = body, None, None
        else:
            if folder is None or feed.tags[0] != folder_tag:
                folder_tag = feed.tags[0]
                folder = ET.SubElement(body, "outline", {"text": folder_tag, "title": folder_tag})
            parent = folder
        attrs = {"type": "rss", "text": feed.name or feed.url}
        if feed.name:
            attrs["title"] = feed.name
        attrs["xmlUrl"] = feed.url
        if feed.site_url:
            attrs["htmlUrl"] = feed.site_url
        if len(feed.tags) > 1:
            attrs["category"] = ",".join(f"/{tag}" for tag in feed.tags[1:])
        ET.SubElement(parent, "outline", attrs)
    ET.indent(opml, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="unicode") + "\n"


def normalise_tag(text: str) -> str | None:
    """Return `text` as a tag (case-folded, whitespace runs → "-"), or None when it is blank."""
    tag = re.sub(r"\s+", "-", text.strip().casefold()).strip("-")
    return tag or None


# -- internals ---------------------------------------------------------------------------------

def _walk(parent: etree._Element, folders: tuple[str, ...], source: str) -> Iterator[OpmlFeed]:
    """Yield the feeds under `parent`, depth first, carrying the enclosing folder tags."""
    for outline in _elements(parent):
        if _local_name(outline) != "outline":
            continue
        attrs = {key.lower(): value.strip() for key, value in outline.attrib.items()
                 if isinstance(key, str)}
        xml_url = attrs.get("xmlurl", "")
        label = attrs.get("title") or attrs.get("text") or ""
        if not xml_url:
            tag = normalise_tag(label)
            yield from _walk(outline, folders + (tag,) if tag else folders, source)
            continue
        url = _feed_url(xml_url, source=source, line=outline.sourceline)
        category_tags = tuple(
            tag for entry in attrs.get("category", "").split(",")
            for segment in entry.split("/") if (tag := normalise_tag(segment)))
        name = label if label and label != xml_url and label != url else None
        yield OpmlFeed(url=url, name=name, site_url=attrs.get("htmlurl") or None,
                       tags=_unique(folders + category_tags))
        # A feed outline with children is unusual; its children keep the enclosing folders.
        yield from _walk(outline, folders, source)


def _feed_url(raw: str, *, source: str, line: int | None) -> str:
    """Return `raw` as an http(s) URL, or raise ConfigError naming the line."""
    url = raw
    # feed://host/path and feed:https://host/path are old "subscribe" links to http(s) feeds.
    if url.lower().startswith("feed:"):
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    problem = feed_url_problem(url)
    if problem:
        raise ConfigError(f"{source}: line {line or 1}: xmlUrl {raw!r} {problem}; "
                          "fix or remove this outline")
    return url


def _url_key(url: str) -> str:
    """Return the form of `url` used to spot duplicates: scheme and host case-folded."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/",
                       parts.query, ""))


def _elements(parent: etree._Element) -> Iterator[etree._Element]:
    """Yield the element children of `parent`, skipping entity references and the like."""
    for child in parent:
        if isinstance(child.tag, str):
            yield child


def _local_name(element: etree._Element) -> str:
    """Return an element's tag without namespace, lower-cased (some exporters shout)."""
    return etree.QName(element).localname.lower()


def _unique(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Return `tags` without repeats, first occurrence kept."""
    return tuple(dict.fromkeys(tags))
