from pipeline import ids


def test_article_id_prefers_the_producers_then_url_then_body():
    assert ids.article_id("abc-1", "https://x/1", "body") == "abc-1"
    from_url = ids.article_id(None, "https://x/1", "body")
    assert from_url.startswith("url-") and from_url == ids.article_id("  ", "https://x/1", "other")
    from_body = ids.article_id(None, None, "Some  body\ntext")
    assert from_body.startswith("body-") and from_body == ids.article_id(None, "", "Some body text")


def test_content_hash_ignores_case_and_whitespace_only():
    assert ids.content_hash("Hello  World\n") == ids.content_hash("hello world")
    assert ids.content_hash("Hello world") != ids.content_hash("Hello, world")
    assert ids.content_hash("x").startswith("sha256:")


def test_event_id_is_deterministic_and_depends_on_every_part():
    base = ids.event_id("a", "sha256:1", "v1")
    assert base == ids.event_id("a", "sha256:1", "v1")
    assert len(base) == 32
    assert len({base, ids.event_id("b", "sha256:1", "v1"), ids.event_id("a", "sha256:2", "v1"),
                ids.event_id("a", "sha256:1", "v2")}) == 4  # fmt: skip
