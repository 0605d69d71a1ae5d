"""Labels (issue 15): admins manage them, any agent puts them on conversations, the list filters by
them, shows them and counts them with the tabs; merges keep both threads' labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .helpers import AGENT_KEY, bearer, connection_for, post_webhook, statements_seen, text_message
from .helpers import agent_key as key_of

API = "/api/whatsapp"


@pytest.fixture
def admin(anon, runner):
    key = key_of(runner, "Ada", "--admin")
    return lambda method, path, **kw: getattr(anon, method)(API + path, headers=bearer(key), **kw)


@pytest.fixture
def agent(anon, runner):
    key = key_of(runner, "Bo")
    return lambda method, path, **kw: getattr(anon, method)(API + path, headers=bearer(key), **kw)


def customer(client, wa_id: str, body: str = "Hello", name: str = "Maria") -> int:
    assert post_webhook(client, text_message(body, wa_id=wa_id, name=name)).status_code == 200
    row = client.get(f"{API}/conversation", query_string={"phone_number": "+" + wa_id}).get_json()
    return row["conversation"]["id"]


SOON = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_label(admin, name: str, colour: str = "#E11D48") -> dict:
    answer = admin("post", "/labels", json={"name": name, "colour": colour})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["label"]


def listing(client, **query) -> dict:
    answer = client.get(f"{API}/conversations", query_string=query)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


# --- managing labels -------------------------------------------------------------------------


def test_an_admin_creates_renames_recolours_and_deletes_a_label(admin, agent):
    vip = make_label(admin, "  VIP  ")
    assert vip == {
        "id": vip["id"],
        "name": "VIP",
        "colour": "#e11d48",
        "created_at": vip["created_at"],
        "conversations": 0,
        "closed_conversations": 0,
    }
    renamed = admin("patch", f"/labels/{vip['id']}", json={"name": "Very important", "colour": "#00FF00"})
    assert renamed.status_code == 200
    assert (renamed.get_json()["label"]["name"], renamed.get_json()["label"]["colour"]) == ("Very important", "#00ff00")
    listed = agent("get", "/labels").get_json()
    assert [label["name"] for label in listed["labels"]] == ["Very important"] and listed["count"] == 1
    gone = admin("delete", f"/labels/{vip['id']}")
    assert gone.get_json() == {"success": True, "deleted": vip["id"], "conversations": 0}
    assert agent("get", "/labels").get_json()["labels"] == []
    assert admin("delete", f"/labels/{vip['id']}").status_code == 404


def test_an_agent_cannot_manage_labels(admin, agent):
    vip = make_label(admin, "VIP")
    for method, path, body in (
        ("post", "/labels", {"name": "Mine"}),
        ("patch", f"/labels/{vip['id']}", {"name": "Mine"}),
        ("delete", f"/labels/{vip['id']}", None),
    ):
        answer = agent(method, path, json=body) if body else agent(method, path)
        assert answer.status_code == 403, (method, path)
        assert answer.get_json() == {
            "success": False,
            "error": "Only an admin can manage labels; ask an admin of this inbox",
        }
    assert [label["name"] for label in agent("get", "/labels").get_json()["labels"]] == ["VIP"]


def test_label_names_are_unique_whatever_their_case(admin):
    make_label(admin, "Straße")
    other = make_label(admin, "Billing")
    taken = admin("post", "/labels", json={"name": "STRASSE"})  # casefold: ß is ss
    assert taken.status_code == 409 and "exists already" in taken.get_json()["error"]
    assert admin("post", "/labels", json={"name": "billing"}).status_code == 409
    assert admin("patch", f"/labels/{other['id']}", json={"name": "strasse"}).status_code == 409
    assert admin("patch", f"/labels/{other['id']}", json={"name": "BILLING"}).status_code == 200  # its own name


@pytest.mark.parametrize(
    "body,error",
    [
        ({"name": ""}, "name must not be empty"),
        ({"name": "   "}, "name must not be empty"),
        ({"name": 7}, "name must be a string"),
        ({"name": "x" * 51}, "name is longer than 50 characters"),
        ({"name": "a\u202eb"}, "name must be plain text (no control or invisible characters)"),
        ({"name": "Ok", "colour": "red"}, "colour must be '#rrggbb' (six hexadecimal digits)"),
        ({"name": "Ok", "colour": "#12345g"}, "colour must be '#rrggbb' (six hexadecimal digits)"),
        ({"name": "Ok", "colour": 123456}, "colour must be '#rrggbb' (six hexadecimal digits)"),
        ({"colour": "#123456"}, "name must be a string"),
    ],
)
def test_a_bad_name_or_colour_is_a_400_naming_it(admin, body, error):
    answer = admin("post", "/labels", json=body)
    assert answer.status_code == 400
    assert answer.get_json() == {"success": False, "error": error}


def test_a_label_without_a_colour_is_grey_and_a_change_needs_something_to_change(admin):
    plain = admin("post", "/labels", json={"name": "Plain"}).get_json()["label"]
    assert plain["colour"] == "#6b7280"
    assert admin("patch", f"/labels/{plain['id']}", json={}).status_code == 400
    assert admin("patch", "/labels/999", json={"name": "x"}).status_code == 404
    assert admin("patch", f"/labels/{2**64}", json={"name": "x"}).status_code == 404
    assert admin("delete", f"/labels/{2**64}").status_code == 404


# --- labels on conversations -----------------------------------------------------------------


def test_any_agent_puts_labels_on_a_conversation_by_id_or_name_and_takes_them_off(client, admin, agent):
    cid = customer(client, "14155550101")
    vip, billing = make_label(admin, "VIP"), make_label(admin, "Billing", "#2563eb")
    added = agent("post", "/add-label", json={"conversation_id": cid, "label": vip["id"]})
    assert added.status_code == 200, added.get_json()
    agent("post", "/add-label", json={"conversation_id": cid, "label": "billing"})
    again = agent("post", "/add-label", json={"conversation_id": cid, "label": "VIP"})  # already there: no change
    assert again.get_json()["conversation"]["labels"] == [
        {"id": billing["id"], "name": "Billing", "colour": "#2563eb"},
        {"id": vip["id"], "name": "VIP", "colour": "#e11d48"},
    ]
    shown = client.get(f"{API}/conversation", query_string={"conversation_id": cid}).get_json()["conversation"]
    assert [label["name"] for label in shown["labels"]] == ["Billing", "VIP"]
    removed = agent("post", "/remove-label", json={"phone_number": "+14155550101", "label": "Billing"})
    assert [label["name"] for label in removed.get_json()["conversation"]["labels"]] == ["VIP"]


def test_adding_an_unknown_label_or_to_an_unknown_conversation_is_a_404(client, admin):
    cid = customer(client, "14155550102")
    make_label(admin, "VIP")
    assert client.post(f"{API}/add-label", json={"conversation_id": cid, "label": "nope"}).status_code == 404
    assert client.post(f"{API}/add-label", json={"conversation_id": 999, "label": "VIP"}).status_code == 404
    missing = client.post(f"{API}/add-label", json={"conversation_id": cid})
    assert missing.status_code == 400 and "label is required" in missing.get_json()["error"]
    for bad in (True, [1], {"id": 1}, 2**60):
        answer = client.post(f"{API}/add-label", json={"conversation_id": cid, "label": bad})
        assert answer.status_code == 400, bad


def test_a_label_change_on_a_conversation_is_a_conversation_updated_event(client, admin):
    cid = customer(client, "14155550103")
    make_label(admin, "VIP")
    after = client.get(f"{API}/events?after=0").get_json()["last_event_id"]
    client.post(f"{API}/add-label", json={"conversation_id": cid, "label": "VIP"})
    client.post(f"{API}/add-label", json={"conversation_id": cid, "label": "VIP"})  # no change, no event
    client.post(f"{API}/remove-label", json={"conversation_id": cid, "label": "VIP"})
    events = client.get(f"{API}/events?after={after}").get_json()["events"]
    assert [(e["kind"], e["conversation_id"]) for e in events] == [("conversation.updated", cid)] * 2


def test_managing_labels_tells_the_dashboards(client, admin):
    after = client.get(f"{API}/events?after=0").get_json()["last_event_id"]
    vip = make_label(admin, "VIP")
    admin("patch", f"/labels/{vip['id']}", json={"colour": "#000000"})
    admin("delete", f"/labels/{vip['id']}")
    events = client.get(f"{API}/events?after={after}").get_json()["events"]
    assert [(e["kind"], e["conversation_id"]) for e in events] == [("labels.updated", None)] * 3


# --- the list: filter, labels of each row, counts ---------------------------------------------


def test_the_list_filters_by_label_id_or_name_and_every_row_carries_its_labels(client, admin):
    a, b, c = (customer(client, f"1415555020{i}", name=f"C{i}") for i in range(3))
    vip, billing = make_label(admin, "VIP"), make_label(admin, "Billing")
    for cid, label in ((a, "VIP"), (b, "VIP"), (b, "Billing")):
        client.post(f"{API}/add-label", json={"conversation_id": cid, "label": label})
    everyone = listing(client)
    assert {row["id"]: [x["name"] for x in row["labels"]] for row in everyone["conversations"]} == {
        a: ["VIP"],
        b: ["Billing", "VIP"],
        c: [],
    }
    by_id = listing(client, label=vip["id"])
    assert sorted(row["id"] for row in by_id["conversations"]) == sorted([a, b]) and by_id["total"] == 2
    by_name = listing(client, label="billing", filter="all")
    assert [row["id"] for row in by_name["conversations"]] == [b] and by_name["total"] == 1
    assert listing(client, label="VIP", filter="unassigned")["total"] == 2  # counted through the label's index
    assert listing(client, label="VIP", filter="closed")["total"] == 0
    unknown = client.get(f"{API}/conversations", query_string={"label": "nope"})
    assert unknown.status_code == 404 and unknown.get_json()["success"] is False
    assert billing["id"]


def test_counts_per_label_come_with_the_tabs_and_follow_close_reopen_and_delete(client, admin):
    a, b = customer(client, "14155550301"), customer(client, "14155550302")
    vip, billing = make_label(admin, "VIP"), make_label(admin, "Billing")
    for cid in (a, b):
        client.post(f"{API}/add-label", json={"conversation_id": cid, "label": "VIP"})
    client.post(f"{API}/add-label", json={"conversation_id": b, "label": "Billing"})
    assert listing(client)["label_counts"] == {str(vip["id"]): 2, str(billing["id"]): 1}
    client.post(f"{API}/close", json={"conversation_id": b})
    assert listing(client)["label_counts"] == {str(vip["id"]): 1, str(billing["id"]): 0}  # 'all' leaves out closed
    assert listing(client, label="VIP", filter="closed")["total"] == 1
    assert listing(client, label="VIP")["total"] == 2  # a label alone: closed ones too
    labels = {x["name"]: x for x in client.get(f"{API}/labels").get_json()["labels"]}
    assert (labels["VIP"]["conversations"], labels["VIP"]["closed_conversations"]) == (1, 1)
    client.post(f"{API}/reopen", json={"conversation_id": b})
    assert listing(client)["label_counts"] == {str(vip["id"]): 2, str(billing["id"]): 1}
    deleted = admin("delete", f"/labels/{vip['id']}").get_json()
    assert deleted["conversations"] == 2
    assert listing(client)["label_counts"] == {str(billing["id"]): 1}
    assert [x["name"] for row in listing(client)["conversations"] for x in row["labels"]] == ["Billing"]


def test_the_labels_of_a_page_are_fetched_in_one_query_whatever_its_size(app, client, admin, settings):
    ids = [customer(client, f"141555504{i:02d}", name=f"P{i}") for i in range(12)]
    make_label(admin, "VIP")
    for cid in ids:
        client.post(f"{API}/add-label", json={"conversation_id": cid, "label": "VIP"})
    for path in ("/api/whatsapp/conversations?limit=2", "/api/whatsapp/conversations"):
        with statements_seen(app) as seen:
            answer = client.get(path, headers={"Authorization": f"Bearer {AGENT_KEY}"})
        assert answer.status_code == 200, answer.get_json()
        assert sum("conversation_labels cl" in sql for sql in seen) == 1, seen


def test_the_label_counts_equal_counting_the_rows_after_many_changes(client, admin, settings):
    ids = [customer(client, f"141555505{i:02d}", name=f"Q{i}") for i in range(6)]
    for name in ("A", "B", "C"):
        make_label(admin, name)
    steps = [
        ("add-label", 0, "A"), ("add-label", 1, "A"), ("add-label", 1, "B"), ("close", 1, None),
        ("add-label", 2, "C"), ("close", 2, None), ("add-label", 2, "A"), ("remove-label", 0, "A"),
        ("reopen", 2, None), ("add-label", 3, "B"), ("close", 3, None), ("remove-label", 3, "B"),
    ]  # fmt: skip
    for route, index, label in steps:
        body = {"conversation_id": ids[index], **({"label": label} if label else {})}
        assert client.post(f"{API}/{route}", json=body).status_code == 200
    with connection_for(settings) as conn:
        counted = dict(
            conn.execute(
                """SELECT cl.label_id, SUM(CASE WHEN c.status != 'closed' THEN 1 ELSE 0 END) FROM conversation_labels cl
                   JOIN whatsapp_conversations c USING (conversation_id) GROUP BY cl.label_id"""
            ).fetchall()
        )
    kept = listing(client)["label_counts"]
    assert kept == {str(k): v for k, v in counted.items()} | {k: 0 for k in kept if int(k) not in counted}


def test_a_merge_of_a_customers_two_threads_keeps_the_labels_of_both(client, admin):
    post_webhook(client, text_message("by user id", wa_id=None, user_id="US.4242", username="@ada"))
    post_webhook(client, text_message("by phone", wa_id="15551234567", user_id=None))
    by_user, by_phone = (
        client.get(f"{API}/conversation", query_string=q).get_json()["conversation"]["id"]
        for q in ({"user_id": "US.4242"}, {"phone_number": "+15551234567"})
    )
    vip, billing = make_label(admin, "VIP"), make_label(admin, "Billing")
    client.post(f"{API}/add-label", json={"conversation_id": by_user, "label": "VIP"})
    client.post(f"{API}/add-label", json={"conversation_id": by_phone, "label": "VIP"})
    client.post(f"{API}/add-label", json={"conversation_id": by_phone, "label": "Billing"})
    client.post(f"{API}/close", json={"conversation_id": by_phone})
    assert post_webhook(client, text_message("both", wa_id="15551234567", user_id="US.4242")).status_code == 200
    [row] = listing(client)["conversations"]
    assert [x["name"] for x in row["labels"]] == ["Billing", "VIP"]
    assert listing(client)["label_counts"] == {str(vip["id"]): 1, str(billing["id"]): 1}
    labels = {x["name"]: x for x in client.get(f"{API}/labels").get_json()["labels"]}
    assert labels["Billing"]["closed_conversations"] == 0 and labels["VIP"]["closed_conversations"] == 0


def test_a_common_label_lists_the_same_page_as_a_rare_one(client, admin, monkeypatch):
    """A label on many conversations is listed by walking the list newest first (store/queries.py
    LABEL_WALK_FROM); the answer is the same as through the label's own index."""
    from whatsapp.store import queries

    ids = [customer(client, f"141555506{i:02d}", body=f"m{i}", name=f"R{i}") for i in range(5)]
    make_label(admin, "VIP")
    for cid in ids[1:4]:
        client.post(f"{API}/add-label", json={"conversation_id": cid, "label": "VIP"})
    client.post(f"{API}/close", json={"conversation_id": ids[2]})
    rare = [listing(client, label="VIP", filter=f, limit=2, offset=o) for f in ("all", "closed") for o in (0, 1)]
    monkeypatch.setattr(queries, "LABEL_WALK_FROM", 0)
    common = [listing(client, label="VIP", filter=f, limit=2, offset=o) for f in ("all", "closed") for o in (0, 1)]
    assert [[r["id"] for r in page["conversations"]] for page in common] == [
        [r["id"] for r in page["conversations"]] for page in rare
    ]
    assert [page["total"] for page in common] == [page["total"] for page in rare] == [2, 2, 1, 1]


@pytest.mark.parametrize("blank", ["", "   "])
def test_adding_or_removing_a_blank_label_is_a_400(client, admin, blank):
    cid = customer(client, "14155550123")
    for route in ("/add-label", "/remove-label"):
        answer = client.post(API + route, json={"conversation_id": cid, "label": blank})
        assert answer.status_code == 400, (route, answer.get_json())
        assert "label is required" in answer.get_json()["error"]


def test_label_counts_leave_out_a_snoozed_conversation_as_the_open_tab_does(client, admin):
    vip = make_label(admin, "VIP")
    first, second = customer(client, "14155550123"), customer(client, "14155550124")
    for cid in (first, second):
        client.post(f"{API}/add-label", json={"conversation_id": cid, "label": vip["id"]})
    client.post(f"{API}/snooze", json={"conversation_id": second, "until": SOON})
    page = listing(client, filter="open", label=vip["id"])
    assert page["total"] == 1
    assert page["label_counts"][str(vip["id"])] == 1
    answer = client.post(f"{API}/unsnooze", json={"conversation_id": second})
    assert [label["name"] for label in answer.get_json()["conversation"]["labels"]] == ["VIP"]
    assert listing(client, filter="open")["label_counts"][str(vip["id"])] == 2


def test_snooze_and_mark_unread_answer_the_conversation_with_its_labels(client, admin):
    vip = make_label(admin, "VIP")
    cid = customer(client, "14155550123")
    client.post(f"{API}/add-label", json={"conversation_id": cid, "label": vip["id"]})
    for route, body in (("/mark-unread", {}), ("/snooze", {"until": SOON}), ("/unsnooze", {})):
        answer = client.post(API + route, json={"conversation_id": cid, **body})
        assert answer.status_code == 200, answer.get_json()
        assert [label["id"] for label in answer.get_json()["conversation"]["labels"]] == [vip["id"]], route
    bulk = client.post(f"{API}/bulk", json={"action": "close", "conversation_ids": [cid]}).get_json()
    assert [label["id"] for label in bulk["results"][0]["conversation"]["labels"]] == [vip["id"]]
