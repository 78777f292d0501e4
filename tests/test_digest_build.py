"""Digest building: stories clustered across outlets, grouped by watch, capped, in local time.

Also holds the hit factories and the invented demo stories the email and Slack tests use.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from monitor.digest import (
    DigestHit,
    DigestRequest,
    HealthNote,
    Segment,
    TermSpan,
    build_digest,
    compose_subject,
)
from monitor.digest.cluster import StoryText, cluster_stories
from monitor.errors import ConfigError

T0 = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
_ids = itertools.count(1)

WATCHES = {
    "russia-hamas": ("Russia–Hamas contacts", "high"),
    "unsc": ("UN Security Council", "normal"),
    "shipping": ("Red Sea shipping attacks", "critical"),
    "sanctions": ("Sanctions on Iranian oil", "low"),
}


def spans_of(title: str, body: str, names: tuple[str, ...], actor: str | None = None) -> tuple[TermSpan, ...]:
    """Every occurrence of each name in the title and body, as the matcher would report it."""
    found = []
    for field, text in (("title", title), ("body", body)):
        for name in names:
            start = text.find(name)
            while start >= 0:
                found.append(TermSpan(text=name, term=name, actor=actor, field=field,
                                      start=start, end=start + len(name)))
                start = text.find(name, start + len(name))
    return tuple(found)


def make_hit(*, item_id: int, watch: str = "russia-hamas", title: str = "A story", body: str = "",
             outlet: str = "Wire One", other_outlets: tuple[str, ...] = (),
             published: datetime = T0, url: str | None = None, canonical_url: str | None = None,
             names: tuple[str, ...] = (), actors: tuple[str, ...] | None = None,
             hit_id: int | None = None, priority: str | None = None) -> DigestHit:
    watch_title, watch_priority = WATCHES.get(watch, (watch.title(), "normal"))
    url = url if url is not None else f"https://news.example/{item_id}"
    return DigestHit(
        hit_id=hit_id if hit_id is not None else next(_ids), watch_id=watch,
        watch_title=watch_title, priority=priority or watch_priority, item_id=item_id,
        title=title, body=body, url=url, canonical_url=canonical_url or url, outlet=outlet,
        other_outlets=other_outlets, published_at=published,
        terms=spans_of(title, body, names), actor_names=actors if actors is not None else names)


def request(hits: list[DigestHit] | tuple[DigestHit, ...], **kwargs: object) -> DigestRequest:
    values: dict[str, object] = {
        "subscription": "analysts", "period_start": T0 - timedelta(days=1),
        "period_end": T0 + timedelta(hours=1), "timezone": "Europe/Berlin", "hits": tuple(hits)}
    values.update(kwargs)
    return DigestRequest(**values)  # type: ignore[arg-type]


# Invented demo stories (written for these tests): wire copies, rewrites, unrelated look-alikes.
MOSCOW_BODY = ("A Hamas delegation led by senior political bureau member Khalil Nasser arrived in "
               "Moscow on Tuesday for talks with Deputy Foreign Minister Pavel Orlov, the Russian "
               "foreign ministry said in a statement. The visit follows weeks of contacts between "
               "the two sides over prisoner exchanges and humanitarian corridors.")
MOSCOW_BODY_EDITED = ("A Hamas delegation led by political bureau member Khalil Nasser arrived in "
                      "Moscow on Tuesday for talks with Russian Deputy Foreign Minister Pavel "
                      "Orlov, the foreign ministry said in a statement. The visit follows weeks of "
                      "contacts between the two sides.")
CAIRO_BODY = ("A Hamas delegation arrived in Cairo on Tuesday for ceasefire talks with Egyptian "
              "intelligence officials, two sources briefed on the visit said, as mediators press "
              "both sides to accept a phased agreement before the end of the month.")


def demo_hits() -> list[DigestHit]:
    """A realistic small digest: four watches, syndicated copies, one item in two watches."""
    hits = [
        make_hit(item_id=101, watch="russia-hamas", outlet="Levant Wire",
                 title="Hamas delegation arrives in Moscow for talks with Russian officials",
                 body=MOSCOW_BODY, names=("Hamas", "Moscow", "Pavel Orlov"),
                 published=T0 - timedelta(hours=5)),
        make_hit(item_id=102, watch="russia-hamas", outlet="Daily Courier",
                 title="Hamas delegation in Moscow for talks with Russian officials",
                 body=MOSCOW_BODY_EDITED, names=("Hamas", "Moscow", "Pavel Orlov"),
                 published=T0 - timedelta(hours=4)),
        make_hit(item_id=103, watch="russia-hamas", outlet="Northern Post",
                 title="Russia's Orlov meets Hamas leaders, urges unity among Palestinian factions",
                 body="Deputy Foreign Minister Pavel Orlov met Hamas leaders in Moscow and urged "
                      "the Palestinian factions to agree on a joint negotiating position, the "
                      "ministry said, without giving further details.",
                 names=("Hamas", "Pavel Orlov", "Moscow"), published=T0 - timedelta(hours=2),
                 other_outlets=("Gulf Times Online",)),
        make_hit(item_id=104, watch="russia-hamas", outlet="Вести Дня",
                 title="Делегация ХАМАС прибыла в Москву",
                 body="Делегация палестинского движения ХАМАС прибыла в Москву для переговоров "
                      "с заместителем министра иностранных дел Павлом Орловым.",
                 names=("ХАМАС", "Москву", "Павлом Орловым"), actors=("Hamas", "Pavel Orlov"),
                 published=T0 - timedelta(hours=3)),
        make_hit(item_id=105, watch="russia-hamas", outlet="Al-Sahil",
                 title="وفد من حماس يصل إلى موسكو لإجراء محادثات",
                 body="وصل وفد من حركة حماس إلى موسكو لإجراء محادثات مع نائب وزير الخارجية الروسي.",
                 names=("حماس", "موسكو"), actors=("Hamas", "Moscow"),
                 published=T0 - timedelta(hours=1)),
        make_hit(item_id=201, watch="unsc", outlet="Levant Wire",
                 title="UN Security Council to vote on Gaza ceasefire resolution on Friday",
                 body="The UN Security Council will vote on Friday on a draft resolution demanding "
                      "an immediate ceasefire in Gaza, diplomats said, after weeks of negotiation "
                      "over the wording on hostages and aid access.",
                 names=("UN Security Council", "Gaza"), published=T0 - timedelta(hours=8)),
        make_hit(item_id=202, watch="unsc", outlet="Harbour Herald",
                 title="Russia blocks Security Council statement on Red Sea attacks",
                 body="Russia blocked a Security Council press statement condemning attacks on "
                      "merchant ships in the Red Sea, saying the text ignored the causes of the "
                      "crisis.", names=("Security Council", "Red Sea"),
                 published=T0 - timedelta(hours=6)),
        make_hit(item_id=202, watch="shipping", outlet="Harbour Herald",
                 title="Russia blocks Security Council statement on Red Sea attacks",
                 body="Russia blocked a Security Council press statement condemning attacks on "
                      "merchant ships in the Red Sea, saying the text ignored the causes of the "
                      "crisis.", names=("Red Sea",), published=T0 - timedelta(hours=6)),
        make_hit(item_id=301, watch="shipping", outlet="Maritime Daily",
                 title="Tanker struck by drone off Hodeidah, crew evacuated",
                 body="A tanker carrying fuel oil was struck by a drone about 60 nautical miles "
                      "off Hodeidah in the Red Sea on Monday night, a maritime security agency "
                      "said; the crew was evacuated and no injuries were reported.",
                 names=("Red Sea", "Hodeidah"), published=T0 - timedelta(hours=10),
                 other_outlets=("Levant Wire", "Harbour Herald")),
        make_hit(item_id=401, watch="sanctions", outlet="Energy Brief",
                 title="Treasury adds six tankers to Iranian oil sanctions list",
                 body="The Treasury designated six tankers and two ship managers for carrying "
                      "Iranian oil, bringing the number of vessels under sanctions this year to "
                      "more than forty.", names=("Iranian oil",), actors=("Iran",),
                 published=T0 - timedelta(hours=12)),
        make_hit(item_id=302, watch="shipping", outlet="Harbour Herald",
                 title="Insurers raise war-risk premiums for Red Sea transits again",
                 body="Marine insurers raised war-risk premiums for ships crossing the Red Sea for "
                      "the third time this quarter, brokers said, citing the latest drone strikes "
                      "and the cost of diverting around the Cape.",
                 names=("Red Sea",), published=T0 - timedelta(hours=9),
                 other_outlets=("Maritime Daily",)),
        make_hit(item_id=203, watch="unsc", outlet="Daily Courier",
                 title="Security Council envoys visit Rafah crossing to assess aid flow",
                 body="Envoys from Security Council member states visited the Rafah crossing to see "
                      "how aid convoys are inspected, and met relief agencies working on the "
                      "Egyptian side.", names=("Security Council", "Rafah"),
                 published=T0 - timedelta(hours=7)),
        make_hit(item_id=402, watch="sanctions", outlet="Energy Brief",
                 title="EU extends asset freeze on firms trading Iranian oil",
                 body="The European Union extended for a year its asset freeze on eleven companies "
                      "accused of brokering Iranian oil sales, and added two more to the list.",
                 names=("Iranian oil",), actors=("Iran",), published=T0 - timedelta(hours=11)),
        make_hit(item_id=107, watch="russia-hamas", outlet="Northern Post",
                 title="Kremlin says no plans for Putin to meet Hamas officials",
                 body="The Kremlin said there were no plans for the president to meet the visiting "
                      "Hamas officials, whose talks are being handled by the foreign ministry.",
                 names=("Hamas", "Kremlin"), actors=("Hamas", "Kremlin"),
                 published=T0 - timedelta(minutes=30)),
    ]
    return hits


def demo_request(**kwargs: object) -> DigestRequest:
    health = (HealthNote(feed="Harbour Herald — World", problem="failing for 26 hours (HTTP 503)",
                         since=T0 - timedelta(hours=26)),
              HealthNote(feed="Northern Post", problem="no new items for 3 days (usually hourly)",
                         since=None))
    return request(demo_hits(), health=health, **kwargs)


# ---------------------------------------------------------------------------------------------


def test_watches_are_grouped_highest_priority_first() -> None:
    digest = build_digest(demo_request())
    assert [s.watch_id for s in digest.sections] == ["shipping", "russia-hamas", "unsc", "sanctions"]
    assert [s.priority for s in digest.sections] == ["critical", "high", "normal", "low"]
    assert digest.watches_fired == ("Red Sea shipping attacks", "Russia–Hamas contacts",
                                    "UN Security Council", "Sanctions on Iranian oil")


def test_same_canonical_url_is_one_story_with_the_other_outlets_listed() -> None:
    url = "https://wire.example/2026/03/10/talks"
    hits = [make_hit(item_id=1, outlet="Wire One", title="Talks in Moscow", url=url,
                     published=T0 - timedelta(hours=3)),
            make_hit(item_id=2, outlet="Regional Paper", title="Moscow hosts talks, again",
                     url="https://regional.example/x?utm_source=feed", canonical_url=url,
                     published=T0 - timedelta(hours=1), other_outlets=("Third Outlet",))]
    section, = build_digest(request(hits)).sections
    story, = section.stories
    assert story.outlet == "Wire One"  # the first to publish leads
    assert story.also_reported_by == ("Regional Paper", "Third Outlet")
    assert story.item_ids == (1, 2)


def test_syndicated_copies_with_small_wording_differences_are_one_story() -> None:
    hits = [h for h in demo_hits() if h.item_id in (101, 102)]
    hits.append(make_hit(item_id=106, outlet="Aggregator",
                         title="Hamas delegation arrives in Moscow for talks with Russian officials - Aggregator",
                         body="", names=("Hamas",)))
    section, = build_digest(request(hits)).sections
    story, = section.stories
    assert story.title == "Hamas delegation arrives in Moscow for talks with Russian officials"
    assert set(story.also_reported_by) == {"Daily Courier", "Aggregator"}
    assert story.item_ids == (101, 102, 106)


def test_different_stories_that_share_words_are_not_clustered() -> None:
    hits = [h for h in demo_hits() if h.item_id == 101]
    hits += [make_hit(item_id=150, outlet="Nile Daily",
                      title="Hamas delegation arrives in Cairo for talks with Egyptian officials",
                      body=CAIRO_BODY, names=("Hamas",)),
             # Title-only items: one word apart is a different story.
             make_hit(item_id=151, title="UN Security Council to meet on Gaza ceasefire resolution"),
             make_hit(item_id=152, title="UN Security Council to meet on Ukraine ceasefire resolution")]
    section, = build_digest(request(hits)).sections
    assert len(section.stories) == 4
    assert all(s.also_reported_by == () for s in section.stories)


def test_clustering_is_transitive_and_names_stories_by_their_smallest_item_id() -> None:
    copy = "Tanker struck by drone off Hodeidah, crew evacuated"
    texts_ = [StoryText(9, copy, ""), StoryText(4, copy + "!", ""),
              StoryText(7, "Something else entirely", "", canonical_url="https://x.example/a"),
              StoryText(5, "Unrelated headline here", "", canonical_url="https://x.example/a")]
    assert cluster_stories(texts_) == {9: 4, 4: 4, 7: 5, 5: 5}


def test_item_in_several_watches_appears_once_per_watch_and_once_in_top() -> None:
    digest = build_digest(demo_request())
    shown = {s.watch_id: [st.item_id for st in s.stories] for s in digest.sections}
    assert shown["unsc"].count(202) == 1
    assert shown["shipping"].count(202) == 1
    assert [st.item_id for st in digest.top].count(202) == 1
    top_202, = [st for st in digest.top if st.item_id == 202]
    assert set(top_202.watch_titles) == {"Red Sea shipping attacks", "UN Security Council"}
    assert top_202.priority == "critical"  # the highest of its watches
    assert len(digest.top) == 5
    # Critical and widely reported lead the top section.
    assert digest.top[0].item_id == 301


def test_top_section_is_left_out_when_the_digest_is_only_a_handful() -> None:
    hits = [make_hit(item_id=i, title=f"Story number {i} about {w}", watch=w)
            for i, w in enumerate(["unsc", "shipping", "sanctions"], start=1)]
    assert build_digest(request(hits)).top == ()
    ten = [make_hit(item_id=i, title=f"Separate event {i} number {i * 7919}", watch="unsc")
           for i in range(1, 11)]
    assert build_digest(request(ten)).top == ()
    eleven = [*ten, make_hit(item_id=11, title="One more separate event 86109", watch="unsc")]
    assert len(build_digest(request(eleven)).top) == 5


def test_a_duplicate_hit_for_the_same_watch_and_item_is_shown_once_but_covered() -> None:
    first = make_hit(item_id=1, title="Once", hit_id=10)
    again = make_hit(item_id=1, title="Once", hit_id=11)
    digest = build_digest(request([first, again]))
    assert [len(s.stories) for s in digest.sections] == [1]
    assert digest.hit_ids == (10, 11)


def test_cap_per_watch_shows_more_count_and_the_command_to_see_all() -> None:
    hits = [make_hit(item_id=i, title=f"Distinct event {i}: {'lorem ipsum '[:i % 11]} {i * 7919}",
                     published=T0 - timedelta(minutes=i)) for i in range(1, 15)]
    digest = build_digest(request(hits, cap_per_watch=10))
    section, = digest.sections
    assert len(section.stories) == 10
    assert section.more == 4
    assert section.see_all == "monitor rules backtest --since 25h --watch russia-hamas"
    assert digest.hit_ids == tuple(sorted(h.hit_id for h in hits))
    # Newest first among equally reported stories, so the cap keeps the latest.
    assert [s.item_id for s in section.stories] == list(range(1, 11))


def test_more_command_is_filled_from_the_request() -> None:
    hits = [make_hit(item_id=i, title=f"Event {i} {i * 31}") for i in range(3)]
    digest = build_digest(request(hits, cap_per_watch=1, period_start=T0 - timedelta(days=1),
                                  period_end=T0,
                                  more_command="monitor digest show {subscription} --watch {watch} --since {since} {unknown}"))
    assert digest.sections[0].see_all == \
        "monitor digest show analysts --watch russia-hamas --since 1d {unknown}"


def test_published_times_are_shown_in_the_subscriber_time_zone_across_a_dst_change() -> None:
    # Europe/Berlin moves from CET to CEST at 01:00 UTC on 29 March 2026.
    start, end = datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    hits = [make_hit(item_id=1, title="Before the change", published=datetime(2026, 3, 28, 20, 0, tzinfo=UTC)),
            make_hit(item_id=2, title="After the change", published=datetime(2026, 3, 29, 9, 0, tzinfo=UTC))]
    digest = build_digest(request(hits, period_start=start, period_end=end))
    assert digest.period_text == "Sat 28 Mar 13:00 CET – Sun 29 Mar 2026 14:00 CEST"
    published = {s.title: s.published_text for s in digest.sections[0].stories}
    assert published == {"Before the change": "Sat 28 Mar 21:00 CET",
                         "After the change": "Sun 29 Mar 11:00 CEST"}

    # New York falls back on 1 November 2026: 05:30 and 06:30 UTC are both "01:30" locally.
    ny = build_digest(request(
        [make_hit(item_id=3, title="First 01:30", published=datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
         make_hit(item_id=4, title="Second 01:30", published=datetime(2026, 11, 1, 6, 30, tzinfo=UTC))],
        timezone="America/New_York", period_start=datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
        period_end=datetime(2026, 11, 1, 8, 0, tzinfo=UTC)))
    assert ny.period_text == "Sun 1 Nov 2026, 00:00 EDT – 03:00 EST"
    assert {s.published_text for s in ny.sections[0].stories} == {"Sun 1 Nov 01:30 EDT",
                                                                 "Sun 1 Nov 01:30 EST"}


def test_period_within_one_day_and_a_zone_without_letters() -> None:
    digest = build_digest(request([make_hit(item_id=1)], timezone="Asia/Dubai",
                                  period_start=datetime(2026, 3, 10, 4, 0, tzinfo=UTC),
                                  period_end=datetime(2026, 3, 10, 8, 0, tzinfo=UTC)))
    assert digest.period_text == "Tue 10 Mar 2026, 08:00–12:00 UTC+04"


def test_snippet_highlights_the_matched_names_at_their_offsets() -> None:
    lead = "Filler words to push the match far into the body. " * 8
    body = lead + "Talks between Hamas and Russia were held in Moscow on Monday. " + "More text. " * 40
    hit = make_hit(item_id=1, title="Talks with Hamas", body=body, names=("Hamas", "Moscow"))
    story = build_digest(request([hit])).sections[0].stories[0]
    assert [s.text for s in story.snippet if s.highlight] == ["Hamas", "Moscow"]
    assert story.snippet[0] == Segment("… ")
    assert story.snippet[-1] == Segment(" …")
    joined = "".join(s.text for s in story.snippet)
    assert "Talks between Hamas and Russia were held in Moscow on Monday." in joined
    assert len(joined) < 320
    assert not joined[2].isspace() and joined[2:].split()[0] in body.split()  # cut between words
    assert story.title_segments == (Segment("Talks with "), Segment("Hamas", highlight=True))


def test_snippet_highlights_cyrillic_and_arabic_names_exactly() -> None:
    digest = build_digest(demo_request())
    stories = {s.item_id: s for s in digest.sections[1].stories}
    russian = next(s for s in digest.sections[1].stories if s.outlet == "Вести Дня")
    assert [s.text for s in russian.snippet if s.highlight] == ["ХАМАС", "Москву", "Павлом Орловым"]
    assert [s.text for s in russian.title_segments if s.highlight] == ["ХАМАС", "Москву"]
    arabic = stories[105]
    assert [s.text for s in arabic.snippet if s.highlight] == ["حماس", "موسكو"]
    assert "".join(s.text for s in arabic.snippet) == demo_hits()[4].body


def test_span_offsets_that_do_not_hold_their_text_are_found_nearby_or_dropped() -> None:
    body = "Officials in Moscow said Hamas envoys would stay two days."
    shifted = TermSpan(text="Hamas", term="Hamas", actor="hamas", field="body", start=27, end=32)
    absent = TermSpan(text="Hezbollah", term="Hezbollah", actor=None, field="body", start=0, end=9)
    hit = make_hit(item_id=1, body=body)
    hit = DigestHit(**{**hit.__dict__, "terms": (shifted, absent)})
    story = build_digest(request([hit])).sections[0].stories[0]
    assert [s.text for s in story.snippet if s.highlight] == ["Hamas"]


def test_subject_says_what_is_inside_and_stays_short() -> None:
    digest = build_digest(demo_request())
    assert compose_subject(digest) == ("[monitor] 12 new: 3 critical, 5 high — Red Sea shipping "
                                       "attacks, Russia–Hamas contacts, UN Security Council +1 more")
    assert digest.subject == compose_subject(digest)
    many = build_digest(request([make_hit(item_id=i, watch=f"watch-number-{i}",
                                          title=f"Event {i} {i * 97}") for i in range(40)]))
    subject = compose_subject(many, "desk")
    assert len(subject) <= 120
    assert subject.startswith("[desk] 40 new — Watch-Number-")
    assert subject.endswith("more")


def test_counts_by_priority_count_each_story_once_at_its_highest_priority() -> None:
    digest = build_digest(demo_request())
    assert digest.counts == (("critical", 3), ("high", 5), ("normal", 2), ("low", 2))
    assert digest.story_count == 12
    assert digest.hit_count == len(demo_hits())


def test_health_notes_are_shown_with_their_local_time() -> None:
    digest = build_digest(demo_request())
    assert [(h.feed, h.since_text) for h in digest.health] == [
        ("Harbour Herald — World", "Mon 9 Mar 06:00 CET"), ("Northern Post", None)]


def test_unknown_time_zone_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        build_digest(request([make_hit(item_id=1)], timezone="Mars/Olympus"))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="period_start"):
        build_digest(request([], period_start=datetime(2026, 3, 10)))


def test_empty_request_builds_an_empty_digest() -> None:
    digest = build_digest(request([]))
    assert (digest.story_count, digest.sections, digest.top, digest.hit_ids) == (0, (), (), ())
    assert compose_subject(digest) == "[monitor] no new stories"


def test_control_and_bidi_override_characters_are_dropped_from_feed_text() -> None:
    hit = make_hit(item_id=1, title="Evil\u202e title\x00 here\n", body="Body\u2066 with\x07 Hamas",
                   names=("Hamas",), outlet="Out\u202elet\r\n")
    story = build_digest(request([hit])).sections[0].stories[0]
    shown = [story.title, story.outlet, *(s.text for s in story.title_segments),
             *(s.text for s in story.snippet)]
    for text in shown:
        assert not any(c in text for c in "\u202e\u2066\x00\x07\r\n")
    assert [s.text for s in story.snippet if s.highlight] == ["Hamas"]
