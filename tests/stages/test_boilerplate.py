"""Boilerplate recognition in both directions: lines that must go, and story sentences that look
like them and must stay."""

from __future__ import annotations

import pytest

from pipeline.stages import boilerplate
from pipeline.stages.boilerplate import strip_boilerplate

STORY = [
    "The regional council approved the budget on Monday after a long debate.",
    "Spending on roads rises by a fifth, while the culture budget is cut.",
]


@pytest.mark.parametrize(
    "closing",
    [
        "in Telegram",
        "On X",
        "Follow us on Twitter",
        "Follow us.",
        "Follow @examplenews for updates",
        "Join our channel on Telegram",
        "Subscribe to our newsletter",
        "Sign up for our breaking news emails",
        "Share this article",
        "Share:",
        "Share",
        "Read more: Council delays vote on the stadium",
        "READ MORE",
        "Related stories",
        "Advertisement",
        "Print this story | Email this story",
        "Tags: politics, budget",
        "Photo: Staff photographer",
        "Comments (12)",
        "All rights reserved.",
        "Twitter | Facebook | Instagram",
        "Download our free app for the latest news",
        "Click here to get alerts",
    ],
)
def test_closing_boilerplate_is_removed(closing: str) -> None:
    assert strip_boilerplate([*STORY, closing], title=None).paragraphs == STORY


@pytest.mark.parametrize(
    "sentence",
    [
        "Follow-up talks are planned for May.",
        "Follow the money, the auditor told the committee.",
        "Share prices of the state railway fell 3 percent.",
        "Share the load, the union said in a statement.",
        "Like many residents, she plans to leave the city.",
        "Join the queue early, officials advised voters.",
        "Read more carefully, the contract says otherwise.",
        "Related charges against two other men were dropped.",
        "Copyright lawyers said the ruling would be appealed.",
        "Subscribers to the service will pay more from June.",
        "Sign up rates for the scheme doubled in a year.",
        "Source code for the app was published on Friday.",
        "Photos of the damage were shared widely online.",
        "Advertising revenue fell by a third.",
        '"We will rebuild"',
        "He declined to comment.",
    ],
)
def test_story_sentences_that_look_like_boilerplate_stay(sentence: str) -> None:
    paragraphs = [*STORY, sentence]
    result = strip_boilerplate(paragraphs, title=None)
    assert result.paragraphs == paragraphs
    assert result.source_credit is None


@pytest.mark.parametrize(
    "opening",
    [
        "By Tuesday, the river had risen by two metres.",
        "By the end of the week, prices had doubled.",
        "By Air France standards, the delay was short.",
        "2024 was the wettest year on record.",
        "Monday's vote was the closest in years.",
    ],
)
def test_opening_sentences_stay(opening: str) -> None:
    result = strip_boilerplate([opening, *STORY], title="Budget approved")
    assert result.paragraphs == [opening, *STORY]
    assert result.authors == []
    assert result.dateline is None


@pytest.mark.parametrize(
    ("byline", "names"),
    [
        ("By Jane Doe", ["Jane Doe"]),
        ("BY JANE DOE", ["Jane Doe"]),
        ("By Jane Doe and John Roe", ["Jane Doe", "John Roe"]),
        ("By Jane Doe, Staff Writer", ["Jane Doe"]),
        ("Written by Ana de la Cruz", ["Ana de la Cruz"]),
        ("By Tuesday, officials said", None),
        ("By the end of the week", None),
    ],
)
def test_byline_names(byline: str, names: list[str] | None) -> None:
    assert boilerplate.byline_names(byline) == names


@pytest.mark.parametrize(
    ("paragraph", "dateline", "agency", "rest"),
    [
        (
            "MOSCOW, March 24 (Reuters) - Talks ended.",
            "MOSCOW, March 24",
            "Reuters",
            "Talks ended.",
        ),
        ("KYIV (AP) — Power returned.", "KYIV", "AP", "Power returned."),
        ("RIO DE JANEIRO — Rain fell.", "RIO DE JANEIRO", None, "Rain fell."),
        ("Paris, 3 May (AFP) - Strikes spread.", "Paris, 3 May", "AFP", "Strikes spread."),
    ],
)
def test_dateline(paragraph: str, dateline: str, agency: str | None, rest: str) -> None:
    result = strip_boilerplate([paragraph, *STORY], title=None)
    assert result.dateline == dateline
    assert result.source_credit == agency
    assert result.paragraphs[0] == rest


def test_paris_in_ordinary_case_without_agency_is_not_a_dateline() -> None:
    paragraph = "Paris - the city of light - welcomed the team on Sunday."
    assert strip_boilerplate([paragraph, *STORY], title=None).paragraphs[0] == paragraph


@pytest.mark.parametrize(
    ("line", "credit"),
    [
        ("Source: Northern Wire", "Northern Wire"),
        ("© 2024 Harbour Gazette Ltd. All rights reserved.", "Harbour Gazette"),
        ("Copyright 2023 Valley Times", "Valley Times"),
        ("The post Cycle lane approved appeared first on Valley Times.", "Valley Times"),
        ("This article was originally published on Example Review.", "Example Review"),
        ("(With inputs from PTI)", "PTI"),
        ("Vestnik Kavkaza", "Vestnik Kavkaza"),
    ],
)
def test_source_credit(line: str, credit: str) -> None:
    result = strip_boilerplate([*STORY, "A third paragraph closes the story.", line], title=None)
    assert result.source_credit == credit
    assert line not in result.paragraphs


def test_credit_above_a_footer_and_headline_twice() -> None:
    result = strip_boilerplate(
        ["Budget approved", "Budget approved", *STORY, "Example Wire", "in Telegram"],
        title="Budget approved",
    )
    assert result.paragraphs == STORY
    assert result.source_credit == "Example Wire"


def test_a_lone_short_text_is_never_emptied() -> None:
    assert strip_boilerplate(["Share this article"], title=None).paragraphs == [
        "Share this article"
    ]


def test_page_chrome_trimmed_only_at_the_edges_of_full_pages() -> None:
    paragraphs = ["Home", "World", *STORY[:1], "Reaction abroad", *STORY[1:], "About us"]
    assert strip_boilerplate(paragraphs, title=None, full_page=True).paragraphs == [
        STORY[0],
        "Reaction abroad",
        STORY[1],
    ]
