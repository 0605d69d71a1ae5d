"""The contact panel (issue 15): the business's own name for a customer (apart from the WhatsApp profile
name, and consistent with the WhatsApp Business app's contact syncs), free key/value attributes, and
every conversation of the customer, closed ones and groups too."""

from __future__ import annotations

import copy

import pytest

from whatsapp.store import contacts

from .helpers import customer_writes, fixture, now_ts, post_webhook, text_message, wamid

API = "/api/whatsapp/contact"
ATTRS = "/api/whatsapp/contact/attributes"
MARIA = "+14155550123"
BSUID = "US.13491208655302741918"
GROUP = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"


def panel(client, **target) -> dict:
    answer = client.get(API, query_string=target or {"conversation_id": 1})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["contact"]


def rename(client, name, **target):
    return client.post(API, json={**(target or {"conversation_id": 1}), "name": name})


def conversation(client, cid: int = 1) -> dict:
    return client.get("/api/whatsapp/conversation", query_string={"conversation_id": cid}).get_json()["conversation"]


def state_sync(name: str, timestamp: int) -> dict:
    body = copy.deepcopy(fixture("state_sync_add"))
    item = body["entry"][0]["changes"][0]["value"]["state_sync"][0]
    item["contact"]["full_name"] = name
    item["metadata"]["timestamp"] = str(timestamp)
    return body


def test_the_business_name_is_kept_apart_from_the_profile_name_and_clearing_it_shows_the_profile(client):
    customer_writes(client, name="Maria Lopez")
    assert panel(client)["named_by_business"] is False
    renamed = rename(client, "  Maria   (VIP) ")
    assert renamed.status_code == 200, renamed.get_json()
    contact = renamed.get_json()["contact"]
    assert contact["contact_name"] == "Maria (VIP)" and contact["contact_profile_name"] == "Maria Lopez"
    assert contact["named_by_business"] is True
    customer_writes(client, name="Maria L.")  # Meta sends a new profile name: the business's name stays
    thread = conversation(client)
    assert thread["contact_name"] == "Maria (VIP)" and thread["contact_profile_name"] == "Maria L."
    listed = client.get("/api/whatsapp/conversations", query_string={"q": "VIP"}).get_json()["conversations"]
    assert [c["id"] for c in listed] == [1]  # the name is searchable at once
    cleared = rename(client, None).get_json()["contact"]
    assert cleared["contact_name"] == "Maria L." and cleared["named_by_business"] is False
    rename(client, "Again")
    assert rename(client, "").get_json()["contact"]["contact_name"] == "Maria L."


def test_an_agents_name_and_the_business_apps_contact_sync_follow_the_newest_change(client):
    customer_writes(client, name="Maria Lopez")
    rename(client, "Maria (agent)")
    post_webhook(client, fixture("state_sync_add"))  # the app's add is older than the agent's edit
    assert conversation(client)["contact_name"] == "Maria (agent)"
    post_webhook(client, state_sync("Maria (owner)", now_ts() + 60))  # a newer change in the app wins
    assert conversation(client)["contact_name"] == "Maria (owner)"
    assert panel(client)["named_by_business"] is True


def test_a_cleared_name_stays_cleared_for_a_new_conversation_of_the_same_phone(client, runner):
    post_webhook(client, fixture("state_sync_add"))  # the owner's name, before the customer ever wrote
    customer_writes(client, name="Maria Lopez")
    assert conversation(client)["contact_name"] == "Maria (bakery order)"
    assert rename(client, None).get_json()["contact"]["contact_name"] == "Maria Lopez"
    post_webhook(client, fixture("state_sync_add"))  # a late retry of the old add does not bring it back
    assert conversation(client)["contact_name"] == "Maria Lopez"


def test_a_customer_without_a_phone_is_named_too(client):
    customer_writes(client, wa_id=None, user_id=BSUID, name="Ana", username="ana.b")
    contact = rename(client, "Ana from Lima", user_id=BSUID).get_json()["contact"]
    assert contact["contact_name"] == "Ana from Lima" and contact["named_by_business"] is True
    assert contact["user_id"] == BSUID and contact["username"] == "ana.b" and contact["phone_number"] is None
    assert rename(client, None, user_id=BSUID).get_json()["contact"]["contact_name"] == "Ana"


@pytest.mark.parametrize(
    "body,status,error",
    [
        ({"conversation_id": 1}, 400, "name is required (null or '' clears the business's name)"),
        ({"conversation_id": 1, "name": 5}, 400, "name must be a string or null"),
        ({"conversation_id": 1, "name": "x" * 201}, 400, "name is longer than 200 characters"),
        ({"name": "x"}, 400, "conversation_id, phone_number or user_id is required"),
        ({"conversation_id": 9, "name": "x"}, 404, "Conversation not found"),
    ],
)
def test_bad_renames_are_json_4xx(client, body, status, error):
    customer_writes(client)
    answer = client.post(API, json=body)
    assert answer.status_code == status and answer.get_json() == {"success": False, "error": error}


def test_attributes_are_added_changed_and_removed(client):
    customer_writes(client)
    added = client.put(ATTRS, json={"conversation_id": 1, "key": "plan", "value": "gold"})
    assert added.status_code == 200, added.get_json()
    client.put(ATTRS, json={"phone_number": MARIA, "key": "crm.id", "value": "A-17"})
    changed = client.put(ATTRS, json={"conversation_id": 1, "key": "plan", "value": "platinum"}).get_json()
    assert [(a["key"], a["value"]) for a in changed["attributes"]] == [("crm.id", "A-17"), ("plan", "platinum")]
    listed = client.get(ATTRS, query_string={"conversation_id": 1}).get_json()
    assert listed["conversation_id"] == 1 and len(listed["attributes"]) == 2
    assert [a["key"] for a in panel(client)["attributes"]] == ["crm.id", "plan"]
    removed = client.delete(ATTRS, query_string={"conversation_id": 1, "key": "crm.id"})
    assert [a["key"] for a in removed.get_json()["attributes"]] == ["plan"]
    gone = client.delete(ATTRS, query_string={"conversation_id": 1, "key": "crm.id"})
    assert gone.status_code == 404 and gone.get_json()["error"] == "The customer has no attribute crm.id"


def test_an_attribute_change_is_an_event_the_dashboard_sees(client):
    customer_writes(client)
    after = client.get("/api/whatsapp/events").get_json()["events"][-1]["id"]
    client.put(ATTRS, json={"conversation_id": 1, "key": "plan", "value": "gold"})
    client.put(ATTRS, json={"conversation_id": 1, "key": "plan", "value": "gold"})  # unchanged: no event
    kinds = [
        (e["kind"], e["conversation_id"])
        for e in client.get(f"/api/whatsapp/events?after={after}").get_json()["events"]
    ]
    assert kinds == [("conversation.updated", 1)]


@pytest.mark.parametrize(
    "body,error",
    [
        ({"key": "Plan", "value": "x"}, "key must be 1 to 64 of a-z, 0-9, '_', '.' and '-'"),
        ({"key": "k" * 65, "value": "x"}, "key must be 1 to 64 of a-z, 0-9, '_', '.' and '-'"),
        ({"key": "", "value": "x"}, "key must be 1 to 64 of a-z, 0-9, '_', '.' and '-'"),
        ({"key": "plan"}, "value must be a string"),
        ({"key": "plan", "value": 3}, "value must be a string"),
        ({"key": "plan", "value": "v" * 1001}, "value is longer than 1000 characters"),
    ],
)
def test_bad_attributes_are_refused_with_a_sentence(client, body, error):
    customer_writes(client)
    answer = client.put(ATTRS, json={"conversation_id": 1, **body})
    assert answer.status_code == 400 and answer.get_json() == {"success": False, "error": error}
    assert client.delete(ATTRS, query_string={"conversation_id": 1, "key": "A B"}).status_code == 400


def test_a_customer_holds_at_most_fifty_attributes(client):
    customer_writes(client)
    for n in range(contacts.MAX_ATTRIBUTES):
        assert client.put(ATTRS, json={"conversation_id": 1, "key": f"k{n:02d}", "value": "v"}).status_code == 200
    full = client.put(ATTRS, json={"conversation_id": 1, "key": "one.more", "value": "v"})
    assert full.status_code == 409 and "at most 50 attributes" in full.get_json()["error"]
    assert client.put(ATTRS, json={"conversation_id": 1, "key": "k00", "value": "changed"}).status_code == 200


def test_attributes_follow_the_customer_when_two_threads_are_merged(client):
    customer_writes(client, wa_id=None, user_id=BSUID, name="Maria")  # a username thread: conversation 1
    customer_writes(client, name="Maria")  # the phone's own thread: conversation 2
    client.put(ATTRS, json={"conversation_id": 1, "key": "plan", "value": "gold"})
    client.put(ATTRS, json={"conversation_id": 2, "key": "plan", "value": "silver"})
    client.put(ATTRS, json={"conversation_id": 2, "key": "city", "value": "Lima"})
    customer_writes(client, user_id=BSUID, name="Maria")  # both ids at once: the threads join into 1
    merged = panel(client, phone_number=MARIA)
    assert merged["conversation_id"] == 1 and merged["phone_number"] == MARIA
    assert {(a["key"], a["value"]) for a in merged["attributes"]} == {("plan", "gold"), ("city", "Lima")}


def group_message(wa_id: str, name: str) -> dict:
    payload = copy.deepcopy(fixture("group_text"))
    value = payload["entry"][0]["changes"][0]["value"]
    message, contact = value["messages"][0], value["contacts"][0]
    message.update(id=wamid("grp"), timestamp=str(now_ts() - 5))
    message["from"] = contact["wa_id"] = wa_id
    contact["profile"]["name"] = name
    return payload


def test_the_panel_lists_the_customers_conversations_closed_ones_and_groups_each_openable(client):
    post_webhook(client, group_message("14155550123", "Maria Lopez"))  # Maria writes in a group: conversation 1
    post_webhook(client, text_message("Hi", name="Maria Lopez", timestamp=now_ts() - 3))  # her own thread: 2
    post_webhook(client, group_message("16505551234", "Sheena"))  # someone else's group message
    client.post("/api/whatsapp/close", json={"conversation_id": 2})
    contact = panel(client, phone_number=MARIA)
    assert contact["conversation_id"] == 2 and contact["kind"] == "individual"
    listed = {c["id"]: c for c in contact["conversations"]}
    assert listed[2]["current"] is True and listed[2]["status"] == "closed" and listed[2]["membership"] is None
    assert listed[1]["kind"] == "group" and listed[1]["membership"] == "member" and listed[1]["current"] is False
    assert set(listed) == {1, 2}
    for item in contact["conversations"]:  # each one opens
        opened = client.get("/api/whatsapp/conversation", query_string={"conversation_id": item["id"]})
        assert (
            opened.status_code == 200
            and opened.get_json()["conversation"]["last_message_at"] == item["last_message_at"]
        )
    group = panel(client, conversation_id=1)
    assert group["kind"] == "group" and [c["id"] for c in group["conversations"]] == [1]
    refused = rename(client, "Our group", conversation_id=1)
    assert refused.status_code == 409 and "subject" in refused.get_json()["error"]


def test_the_panel_finds_the_customers_groups_by_bsuid(client):
    body = group_message("14155550123", "Maria Lopez")
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"], value["contacts"][0]["wa_id"]
    value["messages"][0]["from_user_id"] = value["contacts"][0]["user_id"] = BSUID
    post_webhook(client, body)
    customer_writes(client, wa_id=None, user_id=BSUID, name="Maria Lopez")
    contact = panel(client, user_id=BSUID)
    assert [(c["kind"], c["membership"]) for c in contact["conversations"]] == [
        ("individual", None),
        ("group", "member"),
    ]


def test_panel_errors_are_json_4xx(client, anon):
    assert client.get(API).status_code == 400
    assert client.get(API, query_string={"conversation_id": 5}).status_code == 404
    assert client.get(API, query_string={"user_id": "nope"}).status_code == 400
    assert anon.get(API, query_string={"conversation_id": 1}).status_code == 401
    assert client.post(API, data="x").status_code == 400


def test_real_answers_match_the_openapi_document(client, anon):
    from .test_openapi import conforms

    doc = anon.get("/api/whatsapp/openapi.json").get_json()
    post_webhook(client, group_message("14155550123", "Maria Lopez"))
    customer_writes(client, name="Maria Lopez")
    conforms(doc, ATTRS, "put", client.put(ATTRS, json={"conversation_id": 2, "key": "plan", "value": "gold"}))
    conforms(doc, API, "post", rename(client, "Maria (VIP)", conversation_id=2))
    conforms(doc, API, "post", rename(client, "Group", conversation_id=1))  # 409
    assert (
        len(conforms(doc, API, "get", client.get(API, query_string={"conversation_id": 2}))["contact"]["conversations"])
        == 2
    )
    conforms(doc, ATTRS, "get", client.get(ATTRS, query_string={"conversation_id": 2}))
    conforms(doc, ATTRS, "delete", client.delete(ATTRS, query_string={"conversation_id": 2, "key": "plan"}))
