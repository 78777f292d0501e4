"""Offline demo data: fictional feeds on the dossier's subjects and a loopback server for them.

`monitor demo` serves `feeds/*.xml` with `DemoServer`, polls them through the real pipeline
and matches the shipped rules. The feeds' dates are fixed in late October / early November
2023, so the demo runs with its clock at `DEMO_NOW` and reads the same every time.
See `feeds/README.md` for what each feed demonstrates.
"""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.demo.server import (
    FEED_SUFFIXES,
    DemoServer,
    ServedRequest,
    content_type_for,
    demo_feed_files,
    demo_feeds_directory,
)

#: The demo's "now": just after the newest demo item (Fri 3 Nov 2023, 16:30 UTC).
DEMO_NOW = datetime(2023, 11, 3, 18, 0, tzinfo=UTC)

#: The feed that is an HTML error page: polling it must produce a feed error, not items.
MALFORMED_FEED = "meridian-daily.xml"

#: The feed that is not well-formed XML (undefined entities) but still yields every item.
BOZO_FEED = "eastern-ledger.xml"

#: The one story carried by two feeds: (feed, link) pairs whose links differ only by utm_*.
DUPLICATE_STORY = (
    ("harbour-wire.xml",
     "https://harbourwire.example/world/2023/10/26/hamas-delegation-moscow-talks"),
    ("levant-desk.xml",
     ("https://harbourwire.example/world/2023/10/26/hamas-delegation-moscow-talks"
      "?utm_source=levantdesk&utm_medium=syndication&utm_campaign=partner-feed")),
)

__all__ = [
    "BOZO_FEED",
    "DEMO_NOW",
    "DUPLICATE_STORY",
    "FEED_SUFFIXES",
    "MALFORMED_FEED",
    "DemoServer",
    "ServedRequest",
    "content_type_for",
    "demo_feed_files",
    "demo_feeds_directory",
]
