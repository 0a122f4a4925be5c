"""Realistic site chrome to wrap article texts in: five page templates in the styles news sites use.

Each template takes an article (title, paragraphs, metadata) and returns a full HTML page with
navigation, a cookie banner, share and newsletter boxes, related links, ads, a comment thread and a
footer around it. Every piece of chrome text here was written for this benchmark.
"""

from __future__ import annotations

import html
import json
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PageArticle:
    title: str
    paragraphs: list[str]
    author: str
    published: str  # ISO date
    url: str
    site: str


NAV = [
    "Home",
    "World",
    "Politics",
    "Business",
    "Technology",
    "Science",
    "Sport",
    "Culture",
    "Opinion",
]
RELATED = [
    "Ministers promise answers after second rail outage in a month",
    "How a small harbour town rebuilt its fishing fleet",
    "Central bank holds rates steady as inflation cools",
    "Five things we learned from the regional elections",
    "Drought pushes farmers to try new crops",
    "Museum returns carved masks to their community",
    "Opposition leader calls for an inquiry into hospital waiting lists",
    "Investigators search for the cause of the warehouse fire",
]
COMMENTS = [
    "This is exactly what I have been saying for years, nobody in charge ever listens to us.",
    "Great reporting, thank you for covering this story in so much detail.",
    "I live nearby and the situation on the ground is far worse than described here.",
    "Does anyone know whether the figures include the northern districts as well?",
    "Another article with no mention of who is going to pay for all of this.",
    "My grandfather worked there for thirty years and he would be very sad to read this.",
]
COOKIE = (
    "We use cookies and similar technologies to improve your experience, measure audiences and "
    "show you personalised advertising. By clicking Accept all you agree to our use of cookies."
)
NEWSLETTER = "Get the morning briefing: the day's top stories in your inbox before breakfast."


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _meta_tags(a: PageArticle) -> str:
    return (
        f'<meta property="og:title" content="{_esc(a.title)}">'
        f'<meta property="og:site_name" content="{_esc(a.site)}">'
        f'<meta name="author" content="{_esc(a.author)}">'
        f'<meta property="article:published_time" content="{a.published}T08:30:00Z">'
        f'<link rel="canonical" href="{_esc(a.url)}">'
    )


def _json_ld(a: PageArticle) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": a.title,
        "datePublished": f"{a.published}T08:30:00Z",
        "author": [{"@type": "Person", "name": a.author}],
        "publisher": {"@type": "Organization", "name": a.site},
        "mainEntityOfPage": a.url,
    }
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def _related(rng: random.Random, count: int = 4) -> list[str]:
    return rng.sample(RELATED, count)


def _comments(rng: random.Random, count: int = 3) -> list[str]:
    return rng.sample(COMMENTS, count)


def semantic(a: PageArticle, rng: random.Random) -> str:
    nav = "".join(f'<li><a href="/{n.lower()}">{n}</a></li>' for n in NAV)
    paras = "".join(f"<p>{_esc(p)}</p>" for p in a.paragraphs)
    related = "".join(
        f'<li><a href="/story/{i}">{_esc(t)}</a></li>' for i, t in enumerate(_related(rng))
    )
    comments = "".join(
        f'<li class="comment"><span class="user">reader{i}</span><p>{_esc(c)}</p></li>'
        for i, c in enumerate(_comments(rng))
    )
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{_esc(a.title)} | {_esc(a.site)}</title>{_meta_tags(a)}
<script>window.dataLayer = [{{"page": "article"}}];</script>
<style>body{{font-family:serif}}</style></head>
<body><div class="cookie-banner" role="dialog"><p>{COOKIE}</p><button>Accept all</button>
<button>Manage preferences</button></div>
<header><a class="logo" href="/">{_esc(a.site)}</a><nav><ul>{nav}</ul></nav>
<form role="search"><input name="q" placeholder="Search"></form></header>
<main><article><h1>{_esc(a.title)}</h1>
<p class="byline">By <a href="/authors/x">{_esc(a.author)}</a></p>
<time datetime="{a.published}">{a.published}</time>
<div class="share">
<a href="#">Share on Facebook</a> <a href="#">Share on X</a> <a href="#">Email</a></div>
{paras}
<div class="tags">Topics: <a href="/t/1">World</a> <a href="/t/2">Politics</a></div></article>
<aside class="related"><h2>Related stories</h2><ul>{related}</ul></aside>
<section id="comments"><h2>Comments (3)</h2><ol>{comments}</ol></section></main>
<footer><p>About us | Contact | Privacy policy | Terms of use</p>
<p>&copy; 2024 {_esc(a.site)}. All rights reserved.</p></footer></body></html>"""


def div_soup(a: PageArticle, rng: random.Random) -> str:
    nav = " ".join(f'<a class="menu-item" href="/{n.lower()}">{n}</a>' for n in NAV)
    blocks = []
    for i, p in enumerate(a.paragraphs):
        blocks.append(f'<div class="story-text"><p>{_esc(p)}</p></div>')
        if i == 1:
            blocks.append(
                '<div class="ad-slot"><span>Advertisement</span><div id="ad-1"></div></div>'
            )
    most_read = "".join(
        f'<div class="mr-item"><a href="#">{_esc(t)}</a></div>' for t in _related(rng, 5)
    )
    comments = "".join(
        f'<div class="comment"><div class="comment-author">user_{i}</div>'
        f'<div class="comment-body">{_esc(c)}</div><div class="reply">Reply</div></div>'
        for i, c in enumerate(_comments(rng, 4))
    )
    return f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{_esc(a.title)} - {_esc(a.site)}</title>{_meta_tags(a)}</head><body>
<div id="top"><div class="brand">{_esc(a.site)}</div><div class="menu">{nav}</div>
<div class="login"><a href="/login">Log in</a> <a href="/subscribe">Subscribe</a></div></div>
<div id="gdpr">{COOKIE} <a href="#">OK</a></div>
<div id="wrapper"><div id="content"><div class="breadcrumbs">
<a href="/">Home</a> &gt; <a href="/world">World</a></div>
<div class="headline"><h1>{_esc(a.title)}</h1></div>
<div class="meta">
<span class="author">{_esc(a.author)}</span> <span class="date">{a.published}</span></div>
<div class="story">{"".join(blocks)}</div>
<div class="newsletter"><h3>Newsletter</h3><p>{NEWSLETTER}</p><input type="email">
<button>Sign up</button></div>
<div class="comments"><h3>Reader comments</h3>{comments}</div></div>
<div id="sidebar"><h3>Most read</h3>{most_read}</div></div>
<div id="footer"><div>Contact the newsroom</div><div>Advertise with us</div>
<div>Copyright 2024 {_esc(a.site)} Ltd</div></div></body></html>"""


def wordpress(a: PageArticle, rng: random.Random) -> str:
    nav = "".join(
        f'<li class="menu-item"><a href="/category/{n.lower()}/">{n}</a></li>' for n in NAV
    )
    paras = "\n".join(f"<p>{_esc(p)}</p>" for p in a.paragraphs)
    related = "".join(
        f'<article class="jp-relatedposts-post"><h4><a href="#">{_esc(t)}</a></h4></article>'
        for t in _related(rng, 3)
    )
    comments = "".join(
        f'<li class="comment"><article class="comment-body"><footer class="comment-meta">'
        f'<b class="fn">Visitor {i}</b> says:</footer><div class="comment-content"><p>{_esc(c)}</p>'
        f'</div><div class="reply"><a href="#">Reply</a></div></article></li>'
        for i, c in enumerate(_comments(rng))
    )
    widgets = "".join(f"<li><a href='#'>{_esc(t)}</a></li>" for t in _related(rng, 4))
    return f"""<!doctype html><html lang="en-US"><head><meta charset="UTF-8">
<title>{_esc(a.title)} &#8211; {_esc(a.site)}</title>{_meta_tags(a)}
<link rel="stylesheet" href="/wp-content/themes/news/style.css"></head>
<body class="post-template-default single single-post">
<div id="page" class="site"><header id="masthead" class="site-header">
<p class="site-title">{_esc(a.site)}</p>
<nav id="site-navigation" class="main-navigation"><ul id="primary-menu">{nav}</ul></nav></header>
<div id="content" class="site-content"><div id="primary" class="content-area">
<main id="main" class="site-main">
<article class="post type-post status-publish format-standard hentry">
<header class="entry-header"><h1 class="entry-title">{_esc(a.title)}</h1>
<div class="entry-meta"><span class="posted-on">Posted on <time class="entry-date published"
datetime="{a.published}T08:30:00+00:00">{a.published}</time></span>
<span class="byline"> by <span class="author vcard">
<a class="url fn n" href="#">{_esc(a.author)}</a></span></span></div>
</header><div class="entry-content">
{paras}
<div class="sharedaddy"><h3 class="sd-title">Share this:</h3><ul><li>Twitter</li>
<li>Facebook</li></ul></div>
<div id="jp-relatedposts"><h3>Related</h3>{related}</div></div>
<footer class="entry-footer"><span class="cat-links">Posted in <a href="#">News</a></span>
</footer></article>
<div id="comments" class="comments-area"><h2 class="comments-title">3 thoughts on this story</h2>
<ol class="comment-list">{comments}</ol><div id="respond"><h3>Leave a Reply</h3>
<p>Your email address will not be published.</p><textarea></textarea></div></div>
</main></div><aside id="secondary" class="widget-area"><section class="widget"><h2>Recent Posts</h2>
<ul>{widgets}</ul></section></aside></div>
<footer id="colophon" class="site-footer">
<div class="site-info">Proudly powered by a content system |
Theme by a studio</div></footer></div>
<div id="cookie-notice"><span>{COOKIE}</span><a href="#">Ok</a></div></body></html>"""


def table_layout(a: PageArticle, rng: random.Random) -> str:
    nav = " | ".join(f'<a href="/{n.lower()}.html">{n}</a>' for n in NAV)
    body = "<br><br>\n".join(_esc(p) for p in a.paragraphs)
    related = "<br>".join(f'&raquo; <a href="#">{_esc(t)}</a>' for t in _related(rng, 4))
    return f"""<HTML><HEAD><TITLE>{_esc(a.site)} :: {_esc(a.title)}</TITLE>
<META NAME="author" CONTENT="{_esc(a.author)}"><META NAME="date" CONTENT="{a.published}">
<link rel="canonical" href="{_esc(a.url)}"></HEAD>
<BODY><TABLE width="100%"><TR><TD colspan="2"><FONT size="5">{_esc(a.site)}</FONT><BR>{nav}</TD>
</TR>
<TR><TD width="20%" valign="top"><B>Sections</B><BR>{"<BR>".join(NAV)}<BR><BR>
<B>Also on the site</B><BR>{related}</TD>
<TD valign="top"><FONT size="4"><B>{_esc(a.title)}</B></FONT><BR>
<I>{_esc(a.author)}, {a.published}</I>
<BR><BR>
{body}
<BR><BR><A href="/print">Print this story</A> | <A href="/mail">Email this story</A></TD></TR>
<TR><TD colspan="2"><FONT size="1">All material copyright {_esc(a.site)}. Do not reproduce without
permission.</FONT></TD></TR></TABLE></BODY></HTML>"""


def modern_app(a: PageArticle, rng: random.Random) -> str:
    blocks = []
    related = _related(rng, 4)
    for i, p in enumerate(a.paragraphs):
        blocks.append(f'<div data-component="text-block"><p>{_esc(p)}</p></div>')
        if i == 0:
            blocks.append(
                '<figure><img src="/img/1.jpg" alt="Scene"><figcaption>The scene on Tuesday. '
                "Photo: Staff photographer</figcaption></figure>"
            )
        if i == 2:
            blocks.append(
                '<div data-component="links-block"><p><b>Read more:</b> '
                f'<a href="#">{_esc(related[0])}</a></p></div>'
            )
        if i == 3:
            blocks.append(
                f'<div data-component="newsletter"><p>{NEWSLETTER}</p>'
                "<button>Sign up</button></div>"
            )
    more = "".join(f'<li><a href="#"><h3>{_esc(t)}</h3></a></li>' for t in related[1:])
    nav = "".join(f'<li><a href="/{n.lower()}">{n}</a></li>' for n in NAV)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{_esc(a.title)}</title>
{_json_ld(a)}<meta name="viewport" content="width=device-width"></head>
<body><div id="root"><header><nav aria-label="Main"><ul>{nav}</ul></nav>
<button aria-label="Menu">Menu</button></header>
<main id="main-content"><article><header><h1 id="main-heading">{_esc(a.title)}</h1>
<div data-component="byline-block"><span>By {_esc(a.author)}</span>
<span>{_esc(a.site)} correspondent</span></div>
<time datetime="{a.published}T08:30:00.000Z">{a.published}</time></header>
{"".join(blocks)}
<div data-component="tag-list"><ul><li><a href="#">Europe</a></li><li><a href="#">Economy</a>
</li></ul></div>
</article><section data-component="more-on-this-story"><h2>More on this story</h2><ul>{more}</ul>
</section></main>
<footer><nav><ul><li>Terms of Use</li><li>About us</li><li>Privacy Policy</li><li>Cookies</li>
</ul></nav>
<p>Copyright 2024 {_esc(a.site)}. We are not responsible for the content of external sites.</p>
</footer></div>
<div id="consent-modal"><h2>Your privacy choices</h2><p>{COOKIE}</p><button>Accept all</button>
<button>Reject all</button></div></body></html>"""


TEMPLATES: dict[str, Callable[[PageArticle, random.Random], str]] = {
    "semantic": semantic,
    "div-soup": div_soup,
    "wordpress": wordpress,
    "table-layout": table_layout,
    "modern-app": modern_app,
}
