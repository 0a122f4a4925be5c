"""Baseline text cleaning: the mess the seed article has, in text written for these tests."""

from pipeline.stages.clean import clean_text, normalize_unicode
from pipeline.stages.html_extract import looks_like_html

MESSY_TITLE = "Mayor opens the new harbour bridge"
MESSY_BODY = f"""{MESSY_TITLE}

{MESSY_TITLE}

Mayor Anna Lindqvist opened the city’s new harbour bridge on Saturday. \
‘‘It took ten years,’’ she said.

The bridge links the old town with the docks, officials said.


Harbour Herald

in Telegram
"""


def test_seed_like_mess_is_cleaned():
    result = clean_text(MESSY_BODY, title=MESSY_TITLE)
    assert result.text == (
        "Mayor Anna Lindqvist opened the city's new harbour bridge on Saturday. "
        '"It took ten years," she said.\n\n'
        "The bridge links the old town with the docks, officials said."
    )
    assert result.source_credit == "Harbour Herald"


def test_possessive_quotes_become_plain_so_tokenizers_split_them():
    assert normalize_unicode("Kerry’s “visit”") == 'Kerry\'s "visit"'


def test_invisible_and_control_characters_go_and_spaces_collapse():
    assert normalize_unicode("a\u200bb\u00a0\u00a0c\x07d\u00ade") == "ab cde"


def test_paragraphs_are_kept_and_hard_wraps_are_joined():
    body = "A sentence of a paragraph that\nwraps onto a second line.\nA new paragraph.\n\n\nEnd."
    assert clean_text(body).text == (
        "A sentence of a paragraph that wraps onto a second line.\n\nA new paragraph.\n\nEnd."
    )


def test_html_fragments_keep_paragraphs_and_drop_scripts():
    body = (
        "<p>One <em>fine</em> day.</p><script>var x = 1;</script>"
        "<p>Two &amp; three.</p><ul><li>Four people were hurt.</li></ul>"
    )
    assert looks_like_html(body)
    assert clean_text(body).text == "One fine day.\n\nTwo & three.\n\nFour people were hurt."


def test_a_story_ending_in_a_short_sentence_keeps_it():
    body = "The council met on Monday.\n\nIt voted to build a school.\n\nThe vote was close."
    result = clean_text(body)
    assert result.text.endswith("The vote was close.")
    assert result.source_credit is None


def test_follow_lines_inside_the_story_are_kept():
    body = "Share prices fell on Monday after the report.\n\nFollow-up talks are planned."
    assert clean_text(body).text == body
