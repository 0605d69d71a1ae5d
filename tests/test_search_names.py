"""Search by customer name: whole words first, word beginnings only when those are too few (a
prefix merges every word it starts, so its cost grows with the inbox; issue 12)."""

from __future__ import annotations

import pytest

from whatsapp import store

from .helpers import customer_writes, statements_seen

# How each engine's statements read the names (FTS5's table, the GIN index's expression) and ask
# for 'refund' as a word beginning (FTS5's prefix query, wa_search_query's prefix flag).
NAMES = {"sqlite": "conversations_fts", "postgresql": "wa_names_vector("}
REFUND_PREFIX = {"sqlite": '"refund"*', "postgresql": "wa_search_query('refund', true)"}


@pytest.fixture
def refund_prefix(engine) -> str:
    return REFUND_PREFIX[engine]


def names_searched(app, query: str, limit: int) -> tuple[list[int], list[str]]:
    database = app.extensions["database"]
    with statements_seen(app) as seen, database.connection() as conn:
        found = list(store.search(conn, query, limit=limit))
    return found, [s for s in seen if NAMES[database.engine] in s]


def test_whole_word_names_that_fill_the_list_need_no_prefix_scan(app, client, refund_prefix):
    for n, name in enumerate(("Ana Refund", "Bea Refund", "Caro Refunds")):
        customer_writes(client, "hello", wa_id=f"1555000000{n}", name=name)
    found, statements = names_searched(app, "refund", limit=2)
    assert len(found) == 2
    assert statements and not any(refund_prefix in s for s in statements)  # whole words sufficed


def test_a_name_is_still_found_by_its_beginning_when_whole_words_are_too_few(client):
    customer_writes(client, "hello", wa_id="15550000009", name="Maximiliano Ortega")
    answer = client.get("/api/whatsapp/conversations", query_string={"q": "maxim"}).get_json()
    assert [c["contact_name"] for c in answer["conversations"]] == ["Maximiliano Ortega"]


def test_once_messages_fill_the_list_names_and_numbers_are_not_looked_up(app, client):
    # Three customers wrote "refund"; one more is only *named* Refund. With a list of 3, the
    # messages fill it (newest matching message first), so the names' index is never read.
    for n in range(3):
        customer_writes(client, "refund please", wa_id=f"1555000001{n}", name=f"Customer {n}")
    customer_writes(client, "hello", wa_id="15550000020", name="Refund Rita")
    found, statements = names_searched(app, "refund", limit=3)
    assert len(found) == 3
    assert statements == []
    # With room left, the name is found after the messages.
    found, statements = names_searched(app, "refund", limit=10)
    assert len(found) == 4 and statements
