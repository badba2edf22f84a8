"""CSS inlining for rendered HTML bodies: the only importer of ``css_inline``.

Postmark moves ``<style>`` rules into ``style`` attributes (``InlineCss``,
default true) because many mail clients ignore style sheets. The ``<style>``
blocks stay in place for clients that honour them (media queries). Remote
style sheets are never fetched: rendering does no network I/O.
"""

from __future__ import annotations

import css_inline

_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def inline_css(html: str) -> str:
    """``html`` with its ``<style>`` rules inlined; unchanged when it has none.
    Pure function; malformed CSS is left as it is rather than refused."""
    if "<style" not in html.lower():
        return html
    try:
        return _INLINER.inline(html)
    except (ValueError, css_inline.InlineError):
        return html
