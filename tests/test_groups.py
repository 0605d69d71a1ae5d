"""WhatsApp groups (Meta's Groups API): a group's messages file into the group's own thread, each
showing its sender; a reply goes to the group; members and subject follow the group webhooks; the
24-hour window opens for the whole group when any participant writes. Payloads are Meta's documented
shapes (tests/fixtures/SOURCES.md); the Graph stand-in checks group sends the way Meta does."""

from __future__ import annotations

import copy
import json

import pytest
from werkzeug import Response

from whatsapp import standin_groups, updates
from whatsapp.updates_groups import GroupLifecycle, GroupParticipantsChanged, GroupSubjectChanged, GroupSuspension

from .helpers import app_connection, customer_writes, fixture, meta_calls, now_ts, post_webhook, wamid

SEND_PATH = "/v26.0/110293847561029/messages"
GROUP = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"
SHEENA = "+16505551234"


def group_message(body: str = "What do you all think about this?", *, timestamp: int | None = None, **sender):
    """Meta's group message webhook, from Sheena unless `wa_id`/`name` say otherwise, sent now."""
    payload = copy.deepcopy(fixture("group_text"))
    value = payload["entry"][0]["changes"][0]["value"]
    message, contact = value["messages"][0], value["contacts"][0]
    message.update(id=wamid("grp"), timestamp=str(timestamp or now_ts() - 5))
    message["text"]["body"] = body
    if "wa_id" in sender:
        message["from"] = contact["wa_id"] = sender["wa_id"]
    if "name" in sender:
        contact["profile"]["name"] = sender["name"]
    return payload


def group_conversation(client) -> dict:
    [conv] = [c for c in client.get("/api/whatsapp/conversations").get_json()["conversations"] if c["kind"] == "group"]
    return conv


def thread(client, conversation_id: int) -> list[dict]:
    answer = client.get("/api/whatsapp/messages", query_string={"conversation_id": conversation_id})
    return answer.get_json()["messages"]


def members(client, conversation_id: int) -> dict[str, str]:
    answer = client.get("/api/whatsapp/participants", query_string={"conversation_id": conversation_id})
    assert answer.status_code == 200, answer.get_json()
    return {p["phone_number"]: p["state"] for p in answer.get_json()["participants"]}


def system_lines(client, conversation_id: int) -> list[str]:
    return [m["text"] for m in thread(client, conversation_id) if m["type"] == "system"]


@pytest.fixture
def meta_groups(graph):
    """The stand-in Graph API holding GROUP: group sends are checked like Meta checks them."""
    sent: list[dict] = []

    def handler(request):
        message = request.get_json()
        sent.append(message)
        refused = standin_groups.refusal([GROUP], message)
        if refused is not None:
            return Response(json.dumps(refused[1]), status=refused[0], content_type="application/json")
        return Response(json.dumps(standin_groups.accepted(GROUP, wamid("out"))), content_type="application/json")

    graph.expect_request(SEND_PATH, method="POST").respond_with_handler(handler)
    return sent


# --- parsing: Meta's payload files into typed updates ----------------------------------------


def test_group_webhooks_parse_into_one_typed_update_each():
    def parsed(name):
        return updates.parse_delivery(fixture(name)).updates

    [added] = parsed("group_participants_add")
    assert isinstance(added, GroupParticipantsChanged) and added.change == "added" and added.group_id == GROUP
    assert [p.phone_number for p in added.participants] == ["+16315551111"]
    [left] = parsed("group_participants_leave")
    assert left.change == "removed" and left.initiated_by == "participant"
    [removed] = parsed("group_participants_remove")  # only the one removed; the failed one stays
    assert [p.phone_number for p in removed.participants] == ["+16315551111"] and removed.initiated_by == "business"
    [subject] = parsed("group_settings_update")  # the subject changed; the description did not
    assert isinstance(subject, GroupSubjectChanged) and subject.subject == "Spring launch crew"
    [created] = parsed("group_lifecycle_create")
    assert isinstance(created, GroupLifecycle) and created.event == "created" and created.subject == "Launch team"
    [suspended] = parsed("group_status_suspend")
    assert isinstance(suspended, GroupSuspension) and suspended.suspended is True
    [message] = updates.parse_delivery(fixture("group_text")).messages
    assert message.group_id == GROUP and message.phone_number == SHEENA


def test_a_group_status_names_the_group_not_a_phone_number():
    statuses = updates.parse_delivery(fixture("group_status_delivered")).statuses
    assert [(s.group_id, s.phone_number, s.user_id) for s in statuses] == [(GROUP, None, None)] * 2


# --- the group's thread ------------------------------------------------------------------------


def test_a_group_message_gets_its_own_thread_and_leaves_the_senders_private_thread_alone(client):
    customer_writes(client, "My own question", wa_id="16505551234", name="Sheena Nelson")
    private = client.get("/api/whatsapp/conversation", query_string={"phone_number": SHEENA}).get_json()
    assert post_webhook(client, group_message()).status_code == 200

    group = group_conversation(client)
    assert group["group_id"] == GROUP and group["phone_number"] is None and group["unread_count"] == 1
    [message] = thread(client, group["id"])
    assert message["text"] == "What do you all think about this?"
    assert message["sender"] == {"phone_number": SHEENA, "user_id": None, "name": "Sheena Nelson"}
    after = client.get("/api/whatsapp/conversation", query_string={"phone_number": SHEENA}).get_json()
    assert after == private  # the private thread is untouched: same last message, unread, times
    assert [m["text"] for m in thread(client, private["conversation"]["id"])] == ["My own question"]
    assert private["conversation"]["kind"] == "individual" and private["conversation"]["group_id"] is None


def test_a_group_message_from_a_stranger_creates_no_private_thread(client):
    post_webhook(client, group_message())
    conversations = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert [c["kind"] for c in conversations] == ["group"]
    assert client.get("/api/whatsapp/conversation", query_string={"phone_number": SHEENA}).status_code == 404


def test_a_reply_from_the_group_conversation_goes_to_the_group(client, meta_groups):
    post_webhook(client, group_message())
    group = group_conversation(client)
    answer = client.post("/api/whatsapp/send", json={"conversation_id": group["id"], "message": "Looks great!"})
    assert answer.status_code == 200, answer.get_json()
    [sent] = meta_groups
    assert sent["recipient_type"] == "group" and sent["to"] == GROUP and "recipient" not in sent
    assert answer.get_json()["conversation_id"] == group["id"]
    outbound = [m for m in thread(client, group["id"]) if m["direction"] == "outbound"]
    assert [(m["text"], m["status"], m["sender"]) for m in outbound] == [("Looks great!", "sent", None)]
    # Meta's answer names the group, no customer: the group does not become anyone's thread.
    assert group_conversation(client)["phone_number"] is None
    assert [c["kind"] for c in client.get("/api/whatsapp/conversations").get_json()["conversations"]] == ["group"]


def test_a_group_sends_status_per_participant_moves_the_message_and_names_no_customer(client, meta_groups):
    post_webhook(client, group_message())
    group = group_conversation(client)
    answer = client.post("/api/whatsapp/send", json={"conversation_id": group["id"], "message": "Thanks all"})
    sent_id = answer.get_json()["message_id"]
    body = json.loads(json.dumps(fixture("group_status_delivered")).replace("WAMID", sent_id))
    assert post_webhook(client, body).status_code == 200
    outbound = [m for m in thread(client, group["id"]) if m["direction"] == "outbound"]
    assert outbound[0]["status"] == "delivered"
    assert group_conversation(client)["phone_number"] is None and group_conversation(client)["user_id"] is None


def test_one_members_failure_does_not_fail_the_group_message(client, meta_groups):
    post_webhook(client, group_message())
    group = group_conversation(client)
    sent_id = client.post("/api/whatsapp/send", json={"conversation_id": group["id"], "message": "Hi"}).get_json()[
        "message_id"
    ]
    body = json.loads(json.dumps(fixture("group_status_delivered")).replace("WAMID", sent_id))
    second = body["entry"][0]["changes"][0]["value"]["statuses"][1]
    second["status"] = "failed"
    second["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
    assert post_webhook(client, body).status_code == 200
    [outbound] = [m for m in thread(client, group["id"]) if m["direction"] == "outbound"]
    assert outbound["status"] == "delivered"  # it reached the other member
    assert outbound["error"]["code"] == 131026
    assert outbound["error"]["title"] == "Not delivered to +16315551111 of the group: Message undeliverable"


def test_an_echo_of_a_group_message_goes_to_the_groups_thread_not_to_a_made_up_number(client):
    post_webhook(client, group_message())
    group = group_conversation(client)
    echo = fixture("echo_text")
    item = echo["entry"][0]["changes"][0]["value"]["message_echoes"][0]
    item.pop("to_user_id", None)
    item["to"] = item["group_id"] = GROUP
    assert post_webhook(client, echo).status_code == 200
    conversations = client.get("/api/whatsapp/conversations").get_json()["conversations"]
    assert [c["kind"] for c in conversations] == ["group"]  # no conversation for the id's digits
    assert [m["origin"] for m in thread(client, group["id"]) if m["direction"] == "outbound"] == ["business_app"]


def test_the_group_window_opens_when_any_participant_writes_not_by_their_private_messages(client, meta_groups):
    post_webhook(client, group_message(timestamp=now_ts() - 25 * 3600))
    group = group_conversation(client)
    assert group["can_reply"] is False
    customer_writes(client, "Private hello", wa_id="16505551234", name="Sheena Nelson")  # not in the group
    closed = client.post("/api/whatsapp/send", json={"conversation_id": group["id"], "message": "Hi"})
    assert closed.status_code == 409 and "group's 24-hour" in closed.get_json()["error"]
    assert meta_groups == []
    post_webhook(client, group_message("Me too", wa_id="16315551111", name="Ravi"))  # another participant
    assert group_conversation(client)["can_reply"] is True
    answer = client.post("/api/whatsapp/send", json={"conversation_id": group["id"], "message": "Hi all"})
    assert answer.status_code == 200 and meta_groups[0]["to"] == GROUP


def test_a_group_takes_only_the_types_the_groups_api_sends(client, meta_groups):
    post_webhook(client, group_message())
    group = group_conversation(client)
    answer = client.post(
        "/api/whatsapp/send",
        json={"conversation_id": group["id"], "type": "location", "location": {"latitude": 1.0, "longitude": 2.0}},
    )
    assert answer.status_code == 400 and "text, image" in answer.get_json()["error"]
    assert meta_groups == []


def test_the_stand_in_refuses_a_group_id_sent_as_a_phone_number():
    assert (
        standin_groups.refusal(
            [GROUP], {"messaging_product": "whatsapp", "to": GROUP, "type": "text", "text": {"body": "x"}}
        )[0]
        == 400
    )
    assert (
        standin_groups.refusal(
            [GROUP],
            {
                "messaging_product": "whatsapp",
                "recipient_type": "group",
                "to": GROUP,
                "type": "text",
                "text": {"body": "x"},
            },
        )
        is None
    )


def test_mark_read_sends_no_read_receipt_for_a_group(client, graph):
    post_webhook(client, group_message())
    group = group_conversation(client)
    answer = client.post("/api/whatsapp/mark-read", json={"conversation_id": group["id"]})
    assert answer.status_code == 200 and answer.get_json()["read_receipt"] == "skipped"
    assert meta_calls(graph) == []  # Meta's Groups API does not take read receipts


# --- members and subject follow the group webhooks ---------------------------------------------


def test_members_joining_leaving_and_removed_follow_the_webhooks_as_system_lines(client):
    assert post_webhook(client, fixture("group_participants_add")).status_code == 200
    group = group_conversation(client)
    assert members(client, group["id"]) == {"+16315551111": "member"}
    post_webhook(client, group_message())  # Sheena writes: known by her profile name
    assert members(client, group["id"]) == {"+16315551111": "member", SHEENA: "member"}
    post_webhook(client, fixture("group_participants_leave"))
    post_webhook(client, fixture("group_participants_remove"))
    assert members(client, group["id"]) == {"+16315551111": "left", SHEENA: "left"}
    assert system_lines(client, group["id"]) == [
        "+16315551111 joined the group",
        "Sheena Nelson left the group",
        "+16315551111 was removed from the group",
    ]
    assert group_conversation(client)["unread_count"] == 1  # system lines are not unread


def test_the_same_group_webhook_twice_changes_nothing(client):
    post_webhook(client, fixture("group_participants_add"))
    post_webhook(client, fixture("group_participants_remove"))
    post_webhook(client, fixture("group_participants_add"))  # Meta's retry of the first delivery
    group = group_conversation(client)
    assert members(client, group["id"]) == {"+16315551111": "left"}
    assert len(system_lines(client, group["id"])) == 2


def test_a_late_message_does_not_bring_back_a_member_who_left(client):
    post_webhook(client, fixture("group_participants_leave"))
    post_webhook(client, group_message(timestamp=1739321000))
    assert members(client, group_conversation(client)["id"]) == {SHEENA: "left"}


def test_the_subject_follows_creation_and_settings_updates(client):
    post_webhook(client, fixture("group_lifecycle_create"))
    group = group_conversation(client)
    assert group["contact_name"] == "Launch team"
    post_webhook(client, fixture("group_settings_update"))  # the subject changed; the description failed
    assert group_conversation(client)["contact_name"] == "Spring launch crew"
    assert system_lines(client, group["id"]) == [
        "Group “Launch team” created",
        "The group's subject is now “Spring launch crew”",
    ]
    found = client.get("/api/whatsapp/conversations", query_string={"q": "Spring launch"}).get_json()
    assert [c["id"] for c in found["conversations"]] == [group["id"]]


def test_a_suspension_shows_in_the_thread(client):
    post_webhook(client, fixture("group_status_suspend"))
    group = group_conversation(client)
    assert system_lines(client, group["id"]) == [
        "WhatsApp suspended this group: no messages can be sent or received in it"
    ]


def test_a_group_item_without_its_group_id_is_a_problem_not_a_failure(client, app):
    body = copy.deepcopy(fixture("group_participants_add"))
    del body["entry"][0]["changes"][0]["value"]["groups"][0]["group_id"]
    assert post_webhook(client, body).status_code == 200
    assert client.get("/api/whatsapp/conversations").get_json()["conversations"] == []
    with app_connection(app) as conn:
        assert conn.execute("SELECT state FROM webhook_deliveries").fetchone()[0] == "processed"


def test_participants_of_a_customer_conversation_or_of_none_are_refused(client):
    customer_writes(client)
    own = client.get("/api/whatsapp/conversations").get_json()["conversations"][0]["id"]
    answer = client.get("/api/whatsapp/participants", query_string={"conversation_id": own})
    assert answer.status_code == 400 and answer.get_json()["success"] is False
    assert client.get("/api/whatsapp/participants", query_string={"conversation_id": 999}).status_code == 404
    assert client.get("/api/whatsapp/participants").status_code == 400
