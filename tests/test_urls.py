"""Canonical URLs: one rule per test, so a failure names the rule that broke."""

from __future__ import annotations

import pytest

from monitor.urls import canonical_url, is_tracking_param, url_host


def test_relative_url_resolves_against_base() -> None:
    assert canonical_url("../world/story-1", "https://news.example/feeds/rss.xml") == \
        "https://news.example/world/story-1"
    assert canonical_url("/a?b=1", "https://news.example/feeds/rss.xml") == \
        "https://news.example/a?b=1"


def test_protocol_relative_url_takes_the_base_scheme() -> None:
    assert canonical_url("//cdn.example/x", "https://news.example/") == "https://cdn.example/x"


def test_scheme_and_host_are_lower_cased_but_path_is_not() -> None:
    assert canonical_url("HTTPS://News.EXAMPLE/World/Story") == "https://news.example/World/Story"


def test_international_host_becomes_idna() -> None:
    assert canonical_url("https://Bücher.example/é") == "https://xn--bcher-kva.example/é"
    assert canonical_url("https://пример.рф/новости") == "https://xn--e1afmkfd.xn--p1ai/новости"


def test_default_ports_are_dropped_and_others_kept() -> None:
    assert canonical_url("http://news.example:80/a") == "http://news.example/a"
    assert canonical_url("https://news.example:443/a") == "https://news.example/a"
    assert canonical_url("https://news.example:80/a") == "https://news.example:80/a"
    assert canonical_url("http://news.example:8080/a") == "http://news.example:8080/a"


def test_fragment_is_dropped() -> None:
    assert canonical_url("https://news.example/a?x=1#comments") == "https://news.example/a?x=1"
    assert canonical_url("https://news.example/a#0") == "https://news.example/a"


@pytest.mark.parametrize("param", [
    "utm_source=rss", "utm_medium=feed", "utm_campaign=x", "UTM_Content=y", "fbclid=abc",
    "gclid=1", "dclid=2", "msclkid=3", "mc_cid=4", "mc_eid=5", "yclid=6", "_ga=7", "igshid=8",
    "ref_src=twsrc", "at_medium=RSS", "at_campaign=KARANGA", "cmpid=rss", "mtm_source=x",
    "pk_campaign=y", "smid=tw-share", "ns_mchannel=social",
])
def test_tracking_parameters_are_dropped(param: str) -> None:
    assert canonical_url(f"https://news.example/a?id=7&{param}") == "https://news.example/a?id=7"


def test_content_parameters_that_look_generic_are_kept() -> None:
    # Some sites route on these, so dropping them could merge different articles.
    assert canonical_url("https://news.example/a?ref=home&source=x&page=2&cmp=1") == \
        "https://news.example/a?cmp=1&page=2&ref=home&source=x"
    assert not is_tracking_param("id")
    assert is_tracking_param("Utm_Term")


def test_remaining_parameters_are_sorted_by_key_keeping_repeated_keys_in_order() -> None:
    assert canonical_url("https://news.example/s?z=1&tag=b&a=2&tag=a&m") == \
        "https://news.example/s?a=2&m&tag=b&tag=a&z=1"


def test_parameters_keep_their_encoding_and_empty_pairs_go() -> None:
    assert canonical_url("https://news.example/s?q=a%20b&&p=c+d&") == \
        "https://news.example/s?p=c+d&q=a%20b"


def test_query_of_only_tracking_parameters_leaves_no_question_mark() -> None:
    assert canonical_url("https://news.example/a?utm_source=x&fbclid=y") == \
        "https://news.example/a"


def test_empty_path_becomes_slash_and_other_paths_are_kept() -> None:
    assert canonical_url("https://news.example") == "https://news.example/"
    assert canonical_url("https://news.example?x=1") == "https://news.example/?x=1"
    assert canonical_url("https://news.example/a/") == "https://news.example/a/"


def test_surrounding_whitespace_and_trailing_host_dot_are_ignored() -> None:
    assert canonical_url("\n   https://news.example./a  \n") == "https://news.example/a"


def test_ipv6_host_is_kept_in_brackets() -> None:
    assert canonical_url("http://[::1]:8080/a") == "http://[::1]:8080/a"


@pytest.mark.parametrize("url", [
    None, "", "   ", "mailto:desk@news.example", "javascript:alert(1)", "ftp://news.example/f",
    "tag:news.example,2023:1", "news.example/a", "/relative/without/base", "https://",
    "http://news.example:notaport/a", "http://[::1/a", "http://exa mple.example/a",
    "http://news.example:99999/",
])
def test_non_http_or_unparsable_urls_have_no_canonical_form(url: str | None) -> None:
    assert canonical_url(url) is None


def test_two_links_to_one_story_share_a_canonical_url() -> None:
    a = canonical_url("https://News.example:443/world/1?utm_source=feed&b=2&a=1#top")
    b = canonical_url("/world/1?a=1&b=2&fbclid=zz", "https://news.example/rss")
    assert a == b == "https://news.example/world/1?a=1&b=2"


def test_url_host_is_lower_case_idna_without_port() -> None:
    assert url_host("https://WWW.News.example:8443/a") == "www.news.example"
    assert url_host("http://Bücher.example/") == "xn--bcher-kva.example"
    assert url_host("mailto:x@news.example") is None
    assert url_host("not a url") is None
    assert url_host(None) is None
