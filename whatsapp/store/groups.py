"""The Groups API's webhooks applied: members, subject, creation, deletion and suspension.

Each event writes one system line keyed by the webhook item, so the same delivery twice (Meta's
retry, a journal replay) changes nothing: its line exists, and only a new line applies a change.
"""

from __future__ import annotations

import sqlite3

from ..updates_groups import GroupLifecycle, GroupParticipantsChanged, GroupSubjectChanged, GroupSuspension
from .common import emit
from .group_threads import note_participant, participant_label, resolve_group, system_line
from .inbound import IngestResult, applies


@applies(GroupParticipantsChanged)
def apply_participants(conn: sqlite3.Connection, update: GroupParticipantsChanged, result: IngestResult) -> None:
    conversation_id = resolve_group(conn, update.group_id)
    names = [participant_label(conn, conversation_id, p.phone_number, p.user_id) for p in update.participants]
    if update.change == "added":
        body = f"{_and(names)} joined the group"
    elif update.initiated_by == "participant":
        body = f"{_and(names)} left the group"
    else:
        body = f"{_and(names)} {'was' if len(names) == 1 else 'were'} removed from the group"
    if not system_line(
        conn,
        conversation_id,
        update.group_id,
        update.key,
        update.timestamp,
        "group_participants_" + ("add" if update.change == "added" else "remove"),
        body,
    ):
        return
    state = "member" if update.change == "added" else "left"
    for p in update.participants:
        note_participant(
            conn, conversation_id, p.phone_number, p.user_id, username=p.username, state=state, at=update.timestamp
        )
    emit(conn, "conversation.updated", conversation_id)


@applies(GroupSubjectChanged)
def apply_subject(conn: sqlite3.Connection, update: GroupSubjectChanged, result: IngestResult) -> None:
    conversation_id = resolve_group(conn, update.group_id)
    body = f"The group's subject is now “{update.subject}”"
    if system_line(conn, conversation_id, update.group_id, update.key, update.timestamp, "group_subject", body):
        resolve_group(conn, update.group_id, update.subject)


@applies(GroupLifecycle)
def apply_lifecycle(conn: sqlite3.Connection, update: GroupLifecycle, result: IngestResult) -> None:
    conversation_id = resolve_group(conn, update.group_id)
    if update.event == "created":
        body = f"Group “{update.subject}” created" if update.subject else "Group created"
    else:
        body = "The group was deleted"
    if system_line(conn, conversation_id, update.group_id, update.key, update.timestamp, "group_" + update.event, body):
        if update.subject:
            resolve_group(conn, update.group_id, update.subject)


@applies(GroupSuspension)
def apply_suspension(conn: sqlite3.Connection, update: GroupSuspension, result: IngestResult) -> None:
    conversation_id = resolve_group(conn, update.group_id)
    if update.suspended:
        body = "WhatsApp suspended this group: no messages can be sent or received in it"
    else:
        body = "WhatsApp lifted the group's suspension"
    kind = "group_suspend" if update.suspended else "group_suspend_cleared"
    system_line(conn, conversation_id, update.group_id, update.key, update.timestamp, kind, body)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
