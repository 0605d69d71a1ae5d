"""whatsapp/mentions.py: which agents a note's @names name (pure functions, no database)."""

from __future__ import annotations

from whatsapp.mentions import Handle, Person, handles, mentioned

TEAM = [Person(1, "Ana Souza"), Person(2, "Ana Lima"), Person(3, "Bo"), Person(4, "José Ñúñez"), Person(5, "Ana")]


def names(body: str, author: int | None = None) -> list[str]:
    return [p.name for p in mentioned(body, TEAM, author)]


def test_quoted_and_plain_handles_are_found_but_not_inside_words():
    assert handles('hi @"Ana  Souza" and @bo. mail ana@example.com @@x "@ quiet"') == [
        Handle("Ana  Souza", True),
        Handle("bo", False),
    ]


def test_a_quoted_name_is_a_whole_name_and_case_does_not_matter():
    assert names('@"ana souza"') == ["Ana Souza"]
    assert names('@"Ana"') == ["Ana"]
    assert names('@"Souza"') == []


def test_an_exact_name_wins_over_first_names():
    assert names("@ANA") == ["Ana"]


def test_a_first_name_several_agents_share_names_them_all():
    team = [p for p in TEAM if p.agent_id != 5]
    assert [p.agent_id for p in mentioned("@ana please", team)] == [1, 2]


def test_non_ascii_names_each_agent_once_and_never_the_author():
    assert names("@josé @José @Bo @bo", author=3) == ["José Ñúñez"]
