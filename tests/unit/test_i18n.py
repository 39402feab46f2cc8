"""Every string a template shows has a Simplified Chinese entry; none is left out of _()."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from jinja2 import nodes

from domain.statuses import AttemptStatus, RunStatus, TaskStatus, WorkerStatus
from entrypoints.web.auth import LOGIN_PROBLEMS
from entrypoints.web.i18n import ZH, translate
from entrypoints.web.templating import ENVIRONMENT, TEMPLATES, status_tag

# Shown as they are in every language: the product's name and the API's, commands and values.
UNTRANSLATED = frozenset({"scheduler", "API", "English"})
# Attributes a person sees or hears (a screen reader reads aria-label). A placeholder is an
# example of a value (TaskRun.Failed, a UUID, JSON parameters): shown as it is.
VISIBLE_ATTRIBUTES = frozenset({"title", "aria-label", "alt"})
MACROS_WITH_TEXT = {"field": (1, "hint"), "choice": (1, None)}  # label position, text keyword
LANGUAGE_CODES = frozenset({"en", "zh", "zh-CN"})
WORD = re.compile(r"[A-Za-z]{2,}")
OTHER_STATUSES = {"ok", "degraded", "running", "starting", "failing", "stale", "stopped"} | {
    "expired",
    "revoked",
    "switched",
}
TEMPLATE_NAMES = sorted(path.name for path in TEMPLATES.glob("*.html"))


def parsed(name: str) -> nodes.Template:
    return ENVIRONMENT.parse((TEMPLATES / name).read_text(), name)


def translated_texts(tree: nodes.Template) -> set[str]:
    """The literal texts the template passes to _() or to a macro that translates them."""
    found: set[str] = set()
    for call in tree.find_all(nodes.Call):
        if not isinstance(call.node, nodes.Name):
            continue
        if call.node.name == "_":
            found |= {a.value for a in call.args if isinstance(a, nodes.Const)}
        elif call.node.name in MACROS_WITH_TEXT:
            position, keyword = MACROS_WITH_TEXT[call.node.name]
            if len(call.args) > position and isinstance(call.args[position], nodes.Const):
                found.add(call.args[position].value)
            found |= {
                k.value.value
                for k in call.kwargs
                if k.key == keyword and isinstance(k.value, nodes.Const)
            }
    return found


def shown_constants(node: nodes.Node) -> list[str]:
    """String constants an output expression shows as they are (not through _ or a filter).

    Paths (`'/ui/tasks/' ~ uuid`) and language codes (`lang="{{ 'zh-CN' ... }}"`) are not text.
    """
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        text = node.value
        return [] if text.startswith("/") or text in LANGUAGE_CODES else [text]
    if isinstance(node, nodes.CondExpr):
        return shown_constants(node.expr1) + (
            shown_constants(node.expr2) if node.expr2 is not None else []
        )
    if isinstance(node, nodes.Or | nodes.And):
        return shown_constants(node.left) + shown_constants(node.right)
    if isinstance(node, nodes.Concat):
        return [text for part in node.nodes for text in shown_constants(part)]
    return []


class VisibleText(HTMLParser):
    """The text and visible attributes of a template's markup, outside <code> and <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("code", "script", "style"):
            self._hidden += 1
        self.texts += [value for key, value in attrs if key in VISIBLE_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.texts.append(data)


def untranslated_markup(tree: nodes.Template) -> set[str]:
    """Words of the template's own markup and shown constants that do not go through _()."""
    markup = " ".join(
        data.data if isinstance(data, nodes.TemplateData) else " "
        for output in tree.find_all(nodes.Output)
        for data in output.nodes
    )
    reader = VisibleText()
    reader.feed(markup)
    texts = reader.texts + [
        text
        for output in tree.find_all(nodes.Output)
        for n in output.nodes
        for text in shown_constants(n)
    ]
    return {w for text in texts for w in WORD.findall(text)} - UNTRANSLATED


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_string_a_template_translates_has_a_chinese_entry(name: str) -> None:
    missing = sorted(translated_texts(parsed(name)) - set(ZH))
    assert not missing, f"{name}: no zh entry in entrypoints/web/i18n.py for {missing}"


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_no_template_shows_english_text_outside_the_catalogue(name: str) -> None:
    words = untranslated_markup(parsed(name))
    assert not words, f"{name}: text shown without _() (wrap it, or <code> for a value): {words}"


def test_every_status_a_badge_shows_has_a_chinese_entry() -> None:
    statuses = {str(s) for e in (RunStatus, AttemptStatus, TaskStatus, WorkerStatus) for s in e}
    missing = sorted((statuses | OTHER_STATUSES) - set(ZH))
    assert not missing, f"statuses without a zh entry: {missing}"


def test_every_reason_the_sign_in_page_gives_has_a_chinese_entry() -> None:
    missing = sorted(set(LOGIN_PROBLEMS.values()) - set(ZH))
    assert not missing, f"sign-in problems without a zh entry: {missing}"


def test_a_badge_shows_its_status_in_the_page_language_and_keeps_its_class() -> None:
    badge = ENVIRONMENT.from_string("{{ 'failed'|status }}")
    assert badge.render(lang="zh") == (
        f'<span class="status status-failed" title="failed">{translate("zh", "failed")}</span>'
    )
    assert badge.render(lang="en") == '<span class="status status-failed">failed</span>'
    assert str(status_tag({"lang": "en"}, None)) == '<span class="status status--">-</span>'


def test_the_test_finds_text_left_out_of_the_catalogue() -> None:
    tree = ENVIRONMENT.parse(
        '<p title="Hover me">Plain {{ x or "fallback" }} <code>kept</code> {{ _("Nope") }}</p>'
    )
    assert untranslated_markup(tree) == {"Hover", "me", "Plain", "fallback"}
    assert translated_texts(tree) - set(ZH) == {"Nope"}
