"""HTML extraction: fragments keep their paragraphs, pages give their metadata, layout tables
do not drag side columns into the text."""

from __future__ import annotations

from pipeline.stages.html_extract import extract, fragment_text, looks_like_html

STORY = [
    "The water company will replace 40 kilometres of old pipes in the city centre over the next "
    "three years, starting with the streets where leaks were most frequent last winter.",
    "Residents will be told a week before work starts on their street, and traffic will be "
    "diverted around each site for about ten days, the company said in a statement on Monday.",
]


def test_fragment_blocks_become_paragraphs() -> None:
    text = fragment_text("<p>One <b>bold</b> claim.</p><p>Line<br>break</p><ul><li>a</li></ul>")
    assert [p.strip() for p in text.split("\n\n") if p.strip()] == [
        "One bold claim.",
        "Line\nbreak",
        "a",
    ]


def test_looks_like_html() -> None:
    assert looks_like_html("<p>x</p>")
    assert not looks_like_html("Profits rose <5% while costs > revenue.")


def test_layout_table_page() -> None:
    side = "<br>".join(["Home", "World", "Sport", "Weather", "Contact"])
    page = (
        "<html><head><title>Pipes to be replaced</title></head><body><table><tr>"
        f"<td>{side}</td><td><b>Pipes to be replaced</b><br><br>{'<br><br>'.join(STORY)}</td>"
        "</tr></table></body></html>"
    )
    extracted = extract(page)
    assert extracted.full_page
    for paragraph in STORY:
        assert paragraph in extracted.text
    assert extracted.metadata.title == "Pipes to be replaced"


def test_page_metadata_site_name_removed_from_title() -> None:
    page = (
        '<html><head><title>Pipes to be replaced | City Post</title><meta property="og:site_name" '
        'content="City Post"></head><body><article>'
        + "".join(f"<p>{p}</p>" for p in STORY)
        + "</article></body></html>"
    )
    extracted = extract(page)
    assert extracted.metadata.site_name == "City Post"
    assert extracted.metadata.title == "Pipes to be replaced"
    assert extracted.text.split("\n") == STORY
