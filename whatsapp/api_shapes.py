"""Every JSON shape of the agent API, declared once as a TypedDict: present.py returns them, and the
OpenAPI document's components are derived from them (whatsapp/shapes.py). A message's `content` is the
one exception: its shapes, one per kind, are declared next to the code that reads them (whatsapp/content.py).

Keys marked `NotRequired` may be missing from an answer; every other key is always there (maybe null).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

from .content import Content
from .shapes import Doc

MAX_ID = 2**53  # the API refuses larger integers with a 400

# --- field types used by several shapes ----------------------------------------------------

Time = Annotated[str | None, Doc("UTC, 'YYYY-MM-DD HH:MM:SS'", examples=("2026-11-24 08:30:00",))]
Count = Annotated[int, Doc(minimum=0)]
Id = Annotated[int, Doc(minimum=1, maximum=MAX_ID)]
AgentId = Annotated[int, Doc(minimum=0, maximum=MAX_ID)] | None
Phone = Annotated[str, Doc("E.164 ('+56944328662'); '56944328662' and spaced forms are accepted")]
UserId = Annotated[str, Doc("Meta's business-scoped user id (BSUID), e.g. US.13491208655302741918")]
Latitude = Annotated[float, Doc(minimum=-90, maximum=90)]
Longitude = Annotated[float, Doc(minimum=-180, maximum=180)]


# --- conversations -------------------------------------------------------------------------


class Cost(TypedDict):
    """What Meta would charge for a message of this category sent now (Meta's per-message pricing)."""

    category: Annotated[str, Doc("service (a free-form reply), marketing, utility or authentication")]
    charged: bool
    pricing_type: Annotated[
        Literal["regular", "free_customer_service", "free_entry_point"],
        Doc("The `pricing.type` Meta's statuses would give it"),
    ]
    note: Annotated[str, Doc("A sentence for the agent: free or charged, and why")]


class TemplateCosts(TypedDict):
    marketing: Cost
    utility: Cost
    authentication: Cost


class ReplyCost(TypedDict):
    """Before sending: whether a reply now is free or charged, and in which category (whatsapp/pricing.py)."""

    free_form: Annotated[
        Cost | None, Doc("A non-template reply now; null when the 24-hour window is closed (templates only)")
    ]
    templates: Annotated[TemplateCosts, Doc("A template of each category sent now")]
    free_entry_point_until: Annotated[
        Time, Doc("An open free entry point window (every message free) ends then; null when none is open")
    ]


Colour = Annotated[str, Doc("'#rrggbb'", pattern="^#[0-9a-f]{6}$", examples=("#e11d48",))]


class LabelRef(TypedDict):
    """A label on a conversation."""

    id: Id
    name: str
    colour: Colour


class Conversation(TypedDict):
    id: int
    phone_number: str | None
    contact_name: str | None
    contact_profile_name: str | None
    last_message_at: Time
    last_message: str | None
    unread_count: Count
    status: Literal["open", "closed", "assigned"]
    assigned_agent_id: int | None
    conversation_id: int
    user_id: str | None
    username: str | None
    last_message_type: NotRequired[str | None]
    last_inbound_at: NotRequired[Time]
    window_expires_at: Annotated[
        Time, Doc("When free-form replies stop: 24 hours after the customer's last message, less 2 minutes")
    ]
    can_reply: Annotated[bool, Doc("Whether the 24-hour window allows free-form replies")]
    reply_cost: NotRequired[
        Annotated[ReplyCost, Doc("A conversation read on its own (not in the list): what a reply would cost now")]
    ]
    blocked: NotRequired[Annotated[bool, Doc("The customer is blocked (POST /block): nothing can be sent")]]
    blocked_at: NotRequired[Time]
    created_at: NotRequired[Time]
    updated_at: NotRequired[Time]
    marketing_opt_out: Annotated[
        bool,
        Doc(
            "The customer stopped marketing messages (webhook field user_preferences): a MARKETING template "
            "to them is refused with 409; utility and authentication templates still go"
        ),
    ]
    marketing_preference_at: Annotated[Time, Doc("When the customer last stopped or resumed marketing messages")]
    snippet: NotRequired[Annotated[str | None, Doc("Search results only: the matching text, match in **bold**")]]
    kind: Annotated[
        Literal["individual", "group"],
        Doc("group: a WhatsApp group (Meta's Groups API); its subject is contact_name, replies go to the group"),
    ]
    group_id: Annotated[str | None, Doc("Groups: Meta's group id (null for a customer's own conversation)")]
    labels: NotRequired[
        Annotated[list[LabelRef], Doc("The labels agents put on it, by name (the list and GET /conversation)")]
    ]
    snoozed_until: Annotated[
        Time,
        Doc(
            "POST /snooze: out of the open tabs (in `snoozed`) until then, UTC; null when not snoozed or the "
            "time has passed. The customer writing, closing or reopening ends it"
        ),
    ]
    first_response_due_at: NotRequired[
        Annotated[
            Time,
            Doc(
                "When the first-response target (PUT /response-target) runs out for the customer's unanswered "
                "message: its time plus the target, UTC; null with no target or nothing waiting (list and "
                "GET /conversation)"
            ),
        ]
    ]


class ConversationResult(TypedDict):
    success: Literal[True]
    conversation: Conversation


class TabCounts(TypedDict):
    """How many conversations each dashboard tab holds. Only "closed" counts closed ones."""

    open: Annotated[int, Doc("Not closed and not snoozed (the dashboard's Open tab)")]
    all: Annotated[int, Doc("The same as open: the tab's older name, kept for compatibility")]
    unread: Annotated[int, Doc("Open ones with unread messages")]
    mine: Annotated[int, Doc("Open ones assigned to the signed-in (or agent_id) agent")]
    unassigned: Annotated[int, Doc("Open ones with no agent")]
    closed: int
    snoozed: Annotated[int, Doc("Not closed, snoozed until a time still ahead (left out of the four tabs above)")]


class ConversationList(TypedDict):
    success: Literal[True]
    conversations: list[Conversation]
    count: int
    total: int
    limit: int
    offset: int
    counts: TabCounts
    label_counts: Annotated[
        dict[str, int], Doc("Conversations in the Open tab (not closed, not snoozed now) with each label, by label id")
    ]


class MarkReadResult(TypedDict):
    success: Literal[True]
    conversation_id: int
    unread_count: Literal[0]
    read_receipt: Literal["sent", "failed", "skipped"]


# --- messages ------------------------------------------------------------------------------


class Media(TypedDict):
    id: Annotated[str | None, Doc("Meta's media id")]
    mime_type: str | None
    sha256: NotRequired[str | None]
    filename: NotRequired[str | None]
    url: NotRequired[str | None]
    state: NotRequired[Annotated[str | None, Doc("pending, downloading, ready or failed")]]
    size: NotRequired[int | None]
    download_url: str


class SendError(TypedDict):
    """Why an outbound message failed (or has no known outcome): Meta's code, title and details."""

    code: int | None
    title: str | None
    details: str | None


class Quoted(TypedDict):
    id: NotRequired[int]
    whatsapp_message_id: NotRequired[str | None]
    direction: NotRequired[str]
    type: NotRequired[str | None]
    text: NotRequired[str | None]


class Reaction(TypedDict):
    emoji: str
    direction: str
    timestamp: NotRequired[str]
    agent_id: NotRequired[int | None]


class Location(TypedDict):
    latitude: Latitude
    longitude: Longitude
    name: str | None
    address: str | None
    url: str | None


class MessagePricing(TypedDict):
    """The `pricing` object of the message's statuses, as Meta sent it: what Meta charges for it."""

    billable: Annotated[bool | None, Doc("Meta's `billable` (deprecated by Meta in favour of type + category)")]
    pricing_model: Annotated[str | None, Doc("PMP (per-message pricing, since 1 July 2025) or CBP", examples=("PMP",))]
    category: Annotated[
        str | None,
        Doc("marketing, utility, authentication, authentication-international, service, ...", examples=("utility",)),
    ]
    type: Annotated[
        str | None,
        Doc("regular (charged), free_customer_service or free_entry_point", examples=("free_customer_service",)),
    ]
    charged: Annotated[bool, Doc("Whether Meta charges for it: type regular (or billable, without a type)")]


class Sender(TypedDict):
    """Who wrote a message in a group (a group's thread has many writers)."""

    phone_number: str | None
    user_id: str | None
    name: Annotated[str | None, Doc("Their WhatsApp profile name, as Meta sent it with the message")]


class Message(TypedDict):
    id: int
    whatsapp_message_id: Annotated[str | None, Doc("Meta's wamid; null until Meta accepted a send")]
    phone_number: str | None
    direction: Literal["inbound", "outbound"]
    type: Annotated[str, Doc(examples=("text", "image", "reaction", "unsupported"))]
    text: str | None
    status: Annotated[str | None, Doc("inbound: received; outbound: pending, sent, delivered, read, played, failed")]
    timestamp: str
    agent_id: int | None
    conversation_id: int
    user_id: NotRequired[str | None]
    media_url: NotRequired[str | None]
    media_type: NotRequired[str | None]
    media: NotRequired[Media | None]
    reply_to: NotRequired[str | None]
    error: NotRequired[SendError | None]
    sent_at: NotRequired[Time]
    delivered_at: NotRequired[Time]
    read_at: NotRequired[Time]
    played_at: NotRequired[Time]
    failed_at: NotRequired[Time]
    created_at: NotRequired[Time]
    media_state: NotRequired[str | None]
    media_error: NotRequired[Annotated[str | None, Doc("Why the media's download failed (media_state failed)")]]
    placeholder: NotRequired[Annotated[str | None, Doc("What to show for content WhatsApp did not pass on")]]
    outcome_unknown: NotRequired[
        Annotated[
            bool,
            Doc(
                "An outbound send whose answer from WhatsApp was lost (a timeout, a broken connection, "
                "a crash, an answer without a message id): it may or may not have been sent, until a status "
                "settles it. `error.title` says why"
            ),
        ]
    ]
    quoted: NotRequired[Quoted | None]
    reactions: NotRequired[list[Reaction]]
    edited: NotRequired[bool]
    edited_at: NotRequired[Time]
    previous_texts: NotRequired[list[str | None]]
    deleted: NotRequired[bool]
    deleted_at: NotRequired[Time]
    target: NotRequired[Annotated[str | None, Doc("Reactions, edits, deletions: the wamid they change")]]
    forwarded: NotRequired[bool]
    referral: NotRequired[dict[str, Any] | None]
    location: NotRequired[
        Annotated[Location | None, Doc("Location messages: the place shared (sent or received); null for other types")]
    ]
    origin: NotRequired[
        Annotated[
            Literal["business_app", "history"] | None,
            Doc(
                "Coexistence: business_app, sent from the WhatsApp Business app on this number (an echo); "
                "history, imported from the app's chat history; null for everything else"
            ),
        ]
    ]
    content: Content  # one TypedDict per kind, declared in whatsapp/content.py
    pricing: NotRequired[
        Annotated[MessagePricing | None, Doc("Outbound: Meta's pricing from its statuses (null until a status says)")]
    ]
    raw: NotRequired[Annotated[Any, Doc("include_raw=true: the JSON Meta sent (or the body we sent)")]]
    sender: Annotated[Sender | None, Doc("Group messages from a participant: who wrote it; null otherwise")]
    retried_by: Annotated[
        int | None,
        Doc("A failed send sent again with POST /messages/<id>/retry: the id of the new message; null otherwise"),
    ]
    automatic: Annotated[
        bool,
        Doc(
            "Sent by the service itself (the automatic reply outside business hours, GET /away-reply), not by "
            "an agent: not an agent's answer for reports and assignment"
        ),
    ]


class MessageList(TypedDict):
    success: Literal[True]
    messages: list[Message]
    count: int
    conversation_id: int


class Participant(TypedDict):
    """A member of a WhatsApp group, as the group's webhooks and messages made them known."""

    phone_number: str | None
    user_id: str | None
    username: str | None
    name: str | None
    state: Literal["member", "left"]
    joined_at: Time
    left_at: Time


class ParticipantList(TypedDict):
    success: Literal[True]
    conversation_id: int
    group_id: str
    participants: list[Participant]


class MediaRetry(TypedDict):
    success: bool
    media_state: str | None
    message: Message


# --- sending -------------------------------------------------------------------------------


class SendResult(TypedDict):
    success: bool
    message_id: Annotated[str | None, Doc("Meta's wamid (null when Meta did not accept it)")]
    conversation_id: int
    message: Message
    idempotent_replay: NotRequired[
        Annotated[
            Literal[True], Doc("A repeated Idempotency-Key answered from its first attempt, without calling Meta")
        ]
    ]
    error: NotRequired[str]
    error_code: NotRequired[int | None]
    error_title: NotRequired[str | None]
    error_details: NotRequired[str | None]


class CustomerFields(TypedDict, total=False):
    conversation_id: Id
    phone_number: Phone
    user_id: UserId


class ConversationTarget(CustomerFields, total=False):
    """One of conversation_id, phone_number or user_id"""


class AssignRequest(CustomerFields, total=False):
    agent_id: Required[AgentId]


class SendMedia(TypedDict, total=False):
    """Exactly one of link or id"""

    link: Annotated[str, Doc(format="uri")]
    id: Annotated[str, Doc("Meta's media id: digits", pattern="^[0-9]{1,32}$")]
    caption: Annotated[str, Doc(maxLength=1024)]
    filename: str
    voice: bool
    mime_type: str


class SendLocation(TypedDict, total=False):
    latitude: Required[Latitude]
    longitude: Required[Longitude]
    name: str
    address: str


class SendReaction(TypedDict, total=False):
    """emoji "" removes the reaction"""

    message_id: Required[str]
    emoji: Annotated[str, Doc(maxLength=16)]


class TemplateLanguage(TypedDict, total=False):
    code: str


TemplateValue = str | float | dict[str, Any]


class TemplateNamedValue(TypedDict):
    name: str
    value: Any


class TemplateValues(TypedDict, total=False):
    """The short form; a NAMED template needs every parameter its listing names, and no other (a 400 says which)"""

    header: Annotated[
        Any,
        Doc("POSITIONAL: the texts in order; NAMED: values by name, like body; a media header: {type, link|id}"),
    ]
    body: (
        Annotated[list[TemplateValue], Doc("POSITIONAL templates ({{1}}, {{2}}): the values in order")]
        | Annotated[dict[str, TemplateValue], Doc('NAMED templates: {"first_name": "Jane", ...}')]
        | Annotated[list[TemplateNamedValue], Doc('NAMED templates: [{"name": "first_name", "value": "Jane"}]')]
    )
    buttons: list[list]


class SendTemplate(TypedDict, total=False):
    name: Required[str]
    language: Required[str | TemplateLanguage]
    parameters: TemplateValues
    components: Annotated[list[dict[str, Any]], Doc("Meta's own components")]


class SendRequest(CustomerFields, total=False):
    """One of conversation_id, phone_number or user_id; then the fields of `type`."""

    type: Annotated[
        Literal["text", "image", "video", "audio", "document", "sticker", "location", "reaction", "template"],
        Doc(default="text"),
    ]
    message: Annotated[str, Doc("text: the body; media: the caption", maxLength=4096)]
    agent_id: AgentId
    client_message_id: Annotated[str, Doc("Same as Idempotency-Key", maxLength=200)]
    reply_to: Annotated[str, Doc("The wamid of a message of this inbox to reply to")]
    media: SendMedia
    location: SendLocation
    reaction: SendReaction
    template: SendTemplate


class SendMediaForm(TypedDict, total=False):
    file: Required[Annotated[str, Doc(format="binary")]]
    type: Literal["image", "video", "audio", "document", "sticker"]
    caption: str
    reply_to: str
    conversation_id: str
    phone_number: str
    user_id: str
    agent_id: str
    client_message_id: str


class TemplateParameters(TypedDict):
    """How many parameters each component of the template needs."""

    header: Annotated[int | str, Doc("Text parameters, or image/video/document for a media header")]
    body: int
    buttons: Annotated[list[int], Doc("Per button, in order: the parameters of its URL")]


class TemplateParameterNames(TypedDict):
    """A NAMED template's parameter names per component, in the order they appear (empty when POSITIONAL)."""

    header: list[str]
    body: list[str]


class Template(TypedDict):
    """An approved template, with what a send of it needs."""

    name: str | None
    language: str | None
    category: str | None
    status: str | None
    parameter_format: Annotated[
        Literal["POSITIONAL", "NAMED"],
        Doc("NAMED: send the header and body parameters by name ({{first_name}}); POSITIONAL: in order ({{1}})"),
    ]
    components: Annotated[list[dict[str, Any]], Doc("Meta's components, as Meta lists them")]
    parameters: TemplateParameters
    parameter_names: TemplateParameterNames
    quality_score: Annotated[
        str | None, Doc("GREEN, YELLOW, RED or UNKNOWN from message_template_quality_update; null until Meta sends one")
    ]


class TemplateList(TypedDict):
    success: Literal[True]
    templates: list[Template]
    count: int


# --- the inbox -----------------------------------------------------------------------------


class BillableCounts(TypedDict):
    """Messages Meta charges for (their statuses' pricing type regular), over the last 30 days (UTC days)."""

    total: Count
    by_category: Annotated[
        dict[str, int], Doc("Per pricing category: marketing, utility, authentication, service, ...")
    ]
    since: Annotated[str, Doc("The first UTC day counted, 'YYYY-MM-DD'")]


class Stats(TypedDict):
    total_conversations: Count
    unread_conversations: Count
    open_conversations: Count
    assigned_conversations: NotRequired[Count]
    closed_conversations: NotRequired[Count]
    messages_last_24h: Count
    billable_last_30_days: NotRequired[BillableCounts]


class StatsResult(TypedDict):
    success: Literal[True]
    stats: Stats


class WebhookField(TypedDict):
    last_received_at: Time
    deliveries: Count


class LastSendError(TypedDict):
    code: int | None
    title: str | None
    details: str | None
    at: Time


class HistoryImportError(TypedDict):
    code: Annotated[int | None, Doc("Meta's code, e.g. 2593109: the business declined to share its chat history")]
    title: str | None


class HistoryImport(TypedDict):
    """The import of the WhatsApp Business app's chat history (coexistence, webhook field `history`)."""

    phase: Annotated[int | None, Doc("Meta's phase of the latest chunk: 0 (day 0-1), 1 (day 1-90), 2 (day 90-180)")]
    chunk_order: Annotated[int | None, Doc("The latest chunk's number within its phase")]
    progress: Annotated[int | None, Doc("Meta's overall progress in percent (100: complete)")]
    complete: Annotated[bool, Doc("progress reached 100")]
    chunks: Count
    messages: Annotated[int, Doc("Messages the chunks carried (a chunk delivered twice counts once)", minimum=0)]
    last_chunk_at: Time
    error: HistoryImportError | None


class NumberHealth(TypedDict):
    quality_rating: Annotated[
        str | None,
        Doc(
            "GREEN, YELLOW, RED or UNKNOWN as Meta last reported it (phone_number_quality_update: FLAGGED is "
            "RED, UNFLAGGED GREEN); null until Meta reports one"
        ),
    ]
    quality_event: str | None
    quality_updated_at: Time
    messaging_limit: Annotated[
        str | None, Doc("Meta's messaging limit tier (TIER_250 ... TIER_UNLIMITED), phone_number_quality_update")
    ]
    previous_limit: str | None
    limit_event: Annotated[str | None, Doc("ONBOARDING, THROUGHPUT_UPGRADE (or the older UPGRADE, DOWNGRADE)")]
    limit_updated_at: Time
    limit_hits_last_24h: Annotated[
        Count, Doc("Value-level errors and failed sends of the last 24 hours with 130429, 131048 or 131056")
    ]


class AccountRestriction(TypedDict):
    type: Annotated[str, Doc("Meta's restriction_type, e.g. RESTRICTED_BIZ_INITIATED_MESSAGING")]
    expiration: Annotated[str | None, Doc("As Meta sent it (Unix seconds or a date); null: no end given")]


class AccountStanding(TypedDict):
    restrictions: Annotated[list[AccountRestriction], Doc("account_update ACCOUNT_RESTRICTION, those not expired")]
    restricted_since: Time
    ban_state: Annotated[str | None, Doc("account_update DISABLED_UPDATE: DISABLE, SCHEDULE_FOR_DISABLE, REINSTATE")]
    ban_date: str | None
    violation: Annotated[str | None, Doc("account_update ACCOUNT_VIOLATION: Meta's violation_type")]
    violation_at: Time
    last_event: Annotated[str | None, Doc("The latest account_update event of any kind")]
    last_event_at: Time


class BusinessCapabilities(TypedDict):
    messaging_limit: Annotated[str | None, Doc("business_capability_update: the portfolio's messaging limit")]
    max_phone_numbers_per_waba: int | None
    max_phone_numbers_per_business: int | None
    updated_at: Time


class UnusableTemplate(TypedDict):
    name: str
    language: str
    status: Annotated[str, Doc("PAUSED, DISABLED, REJECTED, PENDING_DELETION, DELETED or ARCHIVED")]
    reason: Annotated[str | None, Doc("Meta's reason (e.g. INVALID_FORMAT)")]
    detail: str | None
    at: Time


class ValueErrors(TypedDict):
    last_24h: Count
    last_30_days: Count
    last: LastSendError | None


class OtherNumberChanges(TypedDict):
    last_24h: Count
    last_30_days: Count
    phone_number_ids: Annotated[list[str], Doc("The other numbers, most recent first (up to 20)")]


class AccountHealth(TypedDict):
    number: Annotated[NumberHealth, Doc("The number's quality and messaging limit, from Meta's webhooks")]
    account: AccountStanding
    business_capabilities: BusinessCapabilities
    templates_unusable: Annotated[
        list[UnusableTemplate], Doc("Templates Meta's webhooks reported paused, disabled or rejected")
    ]
    value_errors: Annotated[
        ValueErrors, Doc("Value-level `errors` of messages changes (e.g. 131000, 130429), kept 30 days")
    ]
    other_number_changes: Annotated[
        OtherNumberChanges,
        Doc("Changes for another phone number of the business account (skipped: not this inbox's number)"),
    ]
    alerts: Annotated[
        list[str],
        Doc("What the dashboard's banner shows: quality not GREEN, a limit hit or lowered, a restriction or ban"),
    ]
    checked_at: Time


class Health(AccountHealth):
    last_webhook_at: Time
    webhook_fields: NotRequired[
        Annotated[
            dict[str, WebhookField],
            Doc(
                "Per webhook field (messages, message_template_status_update, ...): its last delivery and how "
                "many; a field you subscribed to that never appears is not reaching this service"
            ),
        ]
    ]
    deliveries: Annotated[dict[str, int], Doc("Journaled webhook deliveries per state: pending, processed, failed")]
    parked_statuses: Count
    sends_pending_over_10_min: NotRequired[
        Annotated[Count, Doc("Sends with no answer from Meta recorded after 10 minutes (the service stopped mid-send)")]
    ]
    media_pending: NotRequired[Count]
    media_failed: NotRequired[Count]
    failed_sends_last_24h: NotRequired[Count]
    last_send_error: NotRequired[
        Annotated[
            LastSendError | None,
            Doc("Meta's latest refusal of a send in the last 24 hours (e.g. 190: the access token expired)"),
        ]
    ]

    history_import: NotRequired[
        Annotated[HistoryImport | None, Doc("Coexistence: the chat history import's progress; null when none began")]
    ]


class HealthResult(TypedDict):
    success: Literal[True]
    health: Health


# --- the webhook ---------------------------------------------------------------------------


class WebhookEnvelope(TypedDict):
    object: Literal["whatsapp_business_account"]
    entry: list


class WebhookResult(TypedDict):
    success: Literal[True]
    delivery_id: Annotated[int, Doc("The journal row of this delivery")]
    state: Annotated[Literal["processed", "failed"], Doc("failed: kept for `flask replay-webhooks`")]
    stored: NotRequired[int]
    duplicates: NotRequired[int]
    statuses_applied: NotRequired[int]
    statuses_parked: NotRequired[int]


# --- errors --------------------------------------------------------------------------------


class Error(TypedDict):
    success: Literal[False]
    error: Annotated[str, Doc("A sentence saying what went wrong", minLength=1)]
    error_code: NotRequired[Annotated[int | None, Doc("Meta's error code, when Meta refused")]]
    error_title: NotRequired[str | None]
    error_details: NotRequired[str | None]
    window_expires_at: NotRequired[Time]
    can_reply: NotRequired[bool]
    template_status: NotRequired[
        Annotated[str, Doc("409 for a template WhatsApp paused, disabled or rejected: its status (e.g. PAUSED)")]
    ]
    template_reason: NotRequired[Annotated[str | None, Doc("Meta's reason for that status (e.g. INVALID_FORMAT)")]]
    marketing_opt_out: NotRequired[
        Annotated[bool, Doc("409 for a MARKETING template to a customer who stopped marketing messages: true")]
    ]
    merged_into: NotRequired[
        Annotated[int, Doc("404 for a conversation folded into the same customer's other one: that one's id")]
    ]
    media_state: NotRequired[Annotated[str | None, Doc("GET /media: the media's download state")]]
    retry_after: NotRequired[
        Annotated[
            int | None,
            Doc(
                "Seconds before asking again: 503, the media is being downloaded; 502 from GET /media, the next "
                "download attempt (null: none is scheduled, POST /media/<id>/retry tries now)"
            ),
        ]
    ]


# --- events and agents (the dashboard's routes) ----------------------------------------------


class Event(TypedDict):
    id: int
    kind: Annotated[
        Literal[
            "message.created",
            "message.updated",
            "conversation.updated",
            "conversation.merged",
            "history.imported",
            "account.updated",
            "note.created",
            "note.deleted",
            "mention.created",
            "labels.updated",
            "presence.updated",
            "conversation.assigned",
            "activity.updated",
        ],
        Doc(
            "history.imported: a chunk of the WhatsApp Business app's chat history was imported (reload the list); "
            "account.updated: an account signal changed (templates, the number's quality or limit, the account); "
            "note.created: a private note in conversation_id (note_id); note.deleted: that note was deleted; "
            "mention.created: agent_id was @named in "
            "note_id; "
            "labels.updated: an admin created, renamed, recoloured or deleted a label (reload the labels); "
            "presence.updated: agent_id came online, went away or came back (detail.state; conversation_id "
            "null); conversation.assigned: routing gave conversation_id to agent_id automatically "
            "(detail.reason: round-robin, least-loaded, returning customer or backlog); "
            "activity.updated: agent_id started viewing or typing in conversation_id, or left it (detail.state)"
        ),
    ]
    conversation_id: int | None
    message_id: int | None
    merged_from: Annotated[
        int | None, Doc("conversation.merged: the conversation folded into conversation_id, now deleted")
    ]
    created_at: str
    note_id: NotRequired[Annotated[int | None, Doc("note.created, mention.created: the note")]]
    agent_id: NotRequired[
        Annotated[int | None, Doc("mention.created: the agent mentioned; note.created: the note's author")]
    ]
    detail: NotRequired[
        Annotated[dict[str, Any] | None, Doc("The kind's own facts, e.g. an automatic assignment's reason")]
    ]


class EventPage(TypedDict):
    success: Literal[True]
    events: list[Event]
    count: int
    next_after: int
    last_event_id: int
    oldest_event_id: Annotated[
        int,
        Doc(
            "The oldest event kept apart from conversation.merged ones (kept forever): events are pruned after "
            "EVENTS_RETENTION_DAYS"
        ),
    ]
    gap: Annotated[
        bool,
        Doc(
            "true when `after` is older than oldest_event_id: events between them may have been pruned, so "
            "reload what you show"
        ),
    ]


class Agent(TypedDict):
    id: int
    name: str
    created_at: NotRequired[str]
    active: NotRequired[bool]
    role: NotRequired[Annotated[Literal["admin", "agent"], Doc("admin: manages agents, labels and canned replies")]]


class AgentList(TypedDict):
    success: Literal[True]
    agents: list[Agent]
    count: int


class Me(TypedDict):
    success: Literal[True]
    agent: Agent | None
    csrf_token: NotRequired[str]


# --- private notes and mentions (whatsapp/api_notes.py) --------------------------------------

NoteBody = Annotated[str, Doc('Plain text (never HTML); @Ana or @"Ana Souza" mentions an agent', maxLength=4096)]


class NoteMention(TypedDict):
    """An agent a note @mentions."""

    agent_id: int
    name: str


class Note(TypedDict):
    """A private note: agents' words in a thread, never sent to WhatsApp. `type` and `direction` let a
    client sort notes into the thread's messages by `timestamp` (GET /messages never holds them)."""

    id: int
    conversation_id: int
    type: Literal["note"]
    direction: Literal["internal"]
    agent_id: Annotated[int | None, Doc("The author (null: a script with the service key that named none)")]
    agent_name: str | None
    body: NoteBody
    timestamp: Annotated[str, Doc("When it was written (UTC, 'YYYY-MM-DD HH:MM:SS')")]
    mentions: list[NoteMention]


class NoteList(TypedDict):
    success: Literal[True]
    notes: list[Note]
    count: int
    conversation_id: int


class NoteResult(TypedDict):
    success: Literal[True]
    note: Note


class NoteRequest(CustomerFields, total=False):
    """A note for the conversation named by conversation_id, phone_number or user_id."""

    body: Required[NoteBody]
    agent_id: Annotated[int, Doc("The author when the service key writes (a signed-in agent is the author)")]


class NoteDeleted(TypedDict):
    success: Literal[True]
    note_id: int
    deleted: Literal[True]


class MentionedIn(TypedDict):
    """The note a mention is in, and its author."""

    id: int
    body: str
    agent_id: int | None
    agent_name: str | None
    timestamp: str


class MentionConversation(TypedDict):
    """The conversation a mention's note is in (enough to list and open it)."""

    id: int
    contact_name: str | None
    contact_profile_name: str | None
    phone_number: str | None
    username: str | None


class Mention(TypedDict):
    id: int
    agent_id: Annotated[int, Doc("The agent mentioned")]
    created_at: str
    read: bool
    read_at: Time
    note: MentionedIn
    conversation: MentionConversation


class MentionList(TypedDict):
    success: Literal[True]
    mentions: list[Mention]
    count: int
    unread: Annotated[int, Doc("The agent's unread mentions in all (not only this page)")]
    agent_id: int


class MentionsReadRequest(TypedDict, total=False):
    mention_ids: Annotated[
        list[Annotated[int, Doc(minimum=1, maximum=MAX_ID)]],
        Doc("Only these (the agent's own); left out: every unread mention of the agent", maxItems=500),
    ]
    agent_id: Annotated[int, Doc("Whose mentions, when the service key calls (a signed-in agent: their own)")]


class MentionsReadResult(TypedDict):
    success: Literal[True]
    marked: Annotated[int, Doc("Mentions this call marked read")]
    unread: int
    agent_id: int


# --- labels (whatsapp/api_labels.py) ---------------------------------------------------------


class Label(LabelRef):
    """A label, with how many conversations carry it."""

    created_at: Time
    conversations: Annotated[Count, Doc("Conversations not closed carrying it (the 'all' tab)")]
    closed_conversations: Annotated[Count, Doc("Closed conversations carrying it")]


class LabelList(TypedDict):
    success: Literal[True]
    labels: list[Label]
    count: int


class LabelResult(TypedDict):
    success: Literal[True]
    label: Label


class LabelDeleted(TypedDict):
    success: Literal[True]
    deleted: Annotated[int, Doc("The deleted label's id")]
    conversations: Annotated[Count, Doc("Conversations it was taken off")]


LabelName = Annotated[str, Doc("1 to 50 characters; unique whatever the case ('VIP' is 'vip')", minLength=1)]


class LabelCreate(TypedDict, total=False):
    name: Required[LabelName]
    colour: Annotated[str, Doc("'#rrggbb' (or '#RRGGBB'); a grey when left out", examples=("#e11d48",))]


class LabelChange(TypedDict, total=False):
    name: LabelName
    colour: Annotated[str, Doc("'#rrggbb' (or '#RRGGBB')", examples=("#e11d48",))]


class ConversationLabel(CustomerFields, total=False):
    label: Required[Annotated[int | str, Doc("The label's id, or its name (any case)", examples=(3, "VIP"))]]


# --- canned replies (issue 15) -------------------------------------------------------------

CannedCode = Annotated[str, Doc("Typed after '/' in the composer: a-z, 0-9, _ and -", pattern="^[a-z0-9_-]{1,32}$")]
CannedVariable = Annotated[
    Literal["contact.name", "contact.phone", "agent.name", "conversation.id"], Doc("A variable, as in {{contact.name}}")
]


class CannedReply(TypedDict):
    """A shared snippet. Its body may hold {{contact.name}}, {{contact.phone}}, {{agent.name}} and
    {{conversation.id}}; POST /canned-replies/<id>/render fills them."""

    id: Id
    code: CannedCode
    title: str
    body: str
    variables: Annotated[list[CannedVariable], Doc("The variables the body uses, in order")]
    created_by: Annotated[int | None, Doc("The agent who created it (null: the service key or the CLI)")]
    created_at: Time
    updated_at: Time


class CannedReplyList(TypedDict):
    success: Literal[True]
    canned_replies: Annotated[list[CannedReply], Doc("By code; with q, code-prefix matches first")]
    count: Count


class CannedReplyResult(TypedDict):
    success: Literal[True]
    canned_reply: CannedReply


class CannedReplyCreate(TypedDict):
    code: CannedCode
    title: Annotated[str, Doc(minLength=1, maxLength=100)]
    body: Annotated[str, Doc("Variables in double braces; any other {{name}} is refused", minLength=1, maxLength=4096)]


class CannedReplyChange(TypedDict, total=False):
    """Any of code, title and body"""

    code: CannedCode
    title: Annotated[str, Doc(minLength=1, maxLength=100)]
    body: Annotated[str, Doc(minLength=1, maxLength=4096)]


class CannedReplyDeleted(TypedDict):
    success: Literal[True]
    deleted: Id


class RenderRequest(CustomerFields, total=False):
    """The conversation it is for (one of conversation_id, phone_number, user_id); agent_id names the
    agent of {{agent.name}} for the service key (a signed-in agent is always themself)"""

    agent_id: AgentId


class RenderResult(TypedDict):
    success: Literal[True]
    text: Annotated[str, Doc("The body with its variables filled: what to send through POST /send")]
    canned_reply_id: Id
    code: CannedCode
    conversation_id: Id
    missing: Annotated[
        list[CannedVariable], Doc("Variables without a value here (filled with ''), e.g. a customer with no name")
    ]


# --- the contact panel (issue 15) ----------------------------------------------------------

AttributeKey = Annotated[str, Doc("a-z, 0-9, '_', '.' and '-'", pattern="^[a-z0-9_.-]{1,64}$")]


class Attribute(TypedDict):
    key: AttributeKey
    value: Annotated[str, Doc(maxLength=1000)]
    updated_at: Time
    updated_by: Annotated[int | None, Doc("The agent who last set it (null: the service key)")]


class CustomerConversation(TypedDict):
    """One of the customer's conversations, to open with GET /conversation?conversation_id=<id>"""

    id: Id
    kind: Literal["individual", "group"]
    status: Literal["open", "closed", "assigned"]
    last_message_at: Time
    last_message: str | None
    contact_name: Annotated[str | None, Doc("A group's subject; the customer's name for their own thread")]
    current: Annotated[bool, Doc("The conversation the panel was asked about")]
    membership: Annotated[
        Literal["member", "left"] | None, Doc("A group: whether the customer is still in it (null: their own thread)")
    ]


class Contact(TypedDict):
    conversation_id: Id
    kind: Literal["individual", "group"]
    contact_name: Annotated[
        str | None,
        Doc(
            "The business's name for the customer (POST /contact, or the owner's in the WhatsApp Business app); "
            "the WhatsApp profile name when the business gave none"
        ),
    ]
    named_by_business: Annotated[bool, Doc("contact_name is the business's own name, not the profile name")]
    contact_profile_name: Annotated[str | None, Doc("The WhatsApp profile name, as Meta last sent it")]
    phone_number: str | None
    user_id: str | None
    username: str | None
    attributes: Annotated[list[Attribute], Doc("By key; at most 50")]
    conversations: Annotated[
        list[CustomerConversation],
        Doc("Every conversation of the customer (closed ones too) and their groups, newest activity first"),
    ]


class ContactResult(TypedDict):
    success: Literal[True]
    contact: Contact


class ContactNameRequest(CustomerFields, total=False):
    """One of conversation_id, phone_number or user_id, and the name"""

    name: Required[
        Annotated[str | None, Doc("The business's name; null or '' clears it (the profile name shows)", maxLength=200)]
    ]


class AttributeRequest(CustomerFields, total=False):
    """One of conversation_id, phone_number or user_id, and the attribute"""

    key: Required[AttributeKey]
    value: Required[Annotated[str, Doc(maxLength=1000)]]


class AttributeList(TypedDict):
    success: Literal[True]
    conversation_id: Id
    attributes: list[Attribute]


# --- agent actions (whatsapp/api_actions.py) -------------------------------------------------


class ReactRequest(TypedDict, total=False):
    emoji: Required[Annotated[str, Doc('One emoji; "" removes the reaction', maxLength=16, examples=("👍",))]]
    agent_id: AgentId


class SnoozeRequest(CustomerFields, total=False):
    until: Required[
        Annotated[
            str,
            Doc(
                "When it comes back: ISO 8601 ('2026-12-02T09:00:00Z', '2026-12-02T09:00:00+01:00'; without an "
                "offset, UTC) or 'YYYY-MM-DD HH:MM:SS' UTC; ahead of now, at most 365 days",
                examples=("2026-12-02T09:00:00Z",),
            ),
        ]
    ]


class BulkRequest(TypedDict, total=False):
    conversation_ids: Required[Annotated[list[Id], Doc("1 to 200 conversations", minItems=1, maxItems=200)]]
    action: Required[Literal["assign", "unassign", "close", "reopen"]]
    agent_id: Annotated[AgentId, Doc("assign: the (active) agent to assign to; null unassigns")]


class BulkItem(TypedDict):
    conversation_id: int
    success: bool
    error: NotRequired[Annotated[str, Doc("Why this one was not changed (e.g. no such conversation)")]]
    conversation: NotRequired[Annotated[Conversation, Doc("The conversation after the change")]]


class BulkResult(TypedDict):
    success: Literal[True]
    action: str
    results: Annotated[list[BulkItem], Doc("One per id, in the order given (a repeated id once)")]
    changed: Count
    failed: Count


# --- managing agents (admins; whatsapp/api_agents.py) ----------------------------------------


class NewAgentRequest(TypedDict, total=False):
    name: Required[Annotated[str, Doc("Shown to the team", minLength=1, maxLength=100)]]
    role: Literal["admin", "agent"]


class RoleRequest(TypedDict):
    role: Literal["admin", "agent"]


class AgentResult(TypedDict):
    success: Literal[True]
    agent: Agent


class AgentKeyResult(TypedDict):
    success: Literal[True]
    agent: Agent
    key: Annotated[str, Doc("The agent's key, shown this once: only its hash is stored")]


# --- business hours (GET/PUT /business-hours) ------------------------------------------------------

Clock = Annotated[
    str, Doc("Local time 'HH:MM' (a close may be '24:00')", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
]


class OpeningInterval(TypedDict):
    open: Clock
    close: Annotated[Clock, Doc("After open, on the same day")]


DayIntervals = Annotated[list[OpeningInterval], Doc("At most 4, not overlapping; empty: closed that day", maxItems=4)]


class WeekHours(TypedDict):
    mon: DayIntervals
    tue: DayIntervals
    wed: DayIntervals
    thu: DayIntervals
    fri: DayIntervals
    sat: DayIntervals
    sun: DayIntervals


class BusinessHoursSchedule(TypedDict):
    """A weekly schedule in a time zone; holidays are closed all day. Off (enabled false): always open."""

    enabled: bool
    timezone: Annotated[str, Doc("An IANA time zone", examples=("Europe/Berlin",))]
    week: WeekHours
    holidays: Annotated[list[Annotated[str, Doc("YYYY-MM-DD", format="date")]], Doc(maxItems=400)]


class BusinessHoursChange(TypedDict, total=False):
    """The whole schedule (fields left out take their defaults: off, UTC, closed every day, no holidays)"""

    enabled: bool
    timezone: str
    week: Annotated[dict[str, list[OpeningInterval]], Doc("Days mon ... sun; a day left out is closed")]
    holidays: list[str]


class BusinessHoursResult(TypedDict):
    success: Literal[True]
    business_hours: BusinessHoursSchedule
    open_now: Annotated[bool, Doc("Within the hours now (always true when the schedule is off)")]
    next_opening: Annotated[Time, Doc("When it opens next, UTC; now when open; null if it never opens")]


# --- presence and routing (issue 16) ---------------------------------------------------------------

PresenceState = Annotated[
    Literal["online", "away", "offline"],
    Doc("online: a heartbeat within PRESENCE_TIMEOUT_SECONDS and not away; away: set by hand; offline: no heartbeat"),
]


class AgentPresence(TypedDict):
    agent_id: Id
    name: str
    state: PresenceState
    away: Annotated[bool, Doc("Set by hand (POST /presence {away}); stays until changed")]
    last_seen_at: Annotated[Time, Doc("The agent's last heartbeat (null: never)")]


class PresenceChange(TypedDict, total=False):
    """A heartbeat from the signed-in agent's dashboard; `away` sets or clears away by hand (left out: as it was)"""

    away: bool


class PresenceResult(TypedDict):
    success: Literal[True]
    presence: AgentPresence
    changed: Annotated[bool, Doc("The heartbeat changed the agent's state (a presence.updated event was emitted)")]


class PresenceList(TypedDict):
    success: Literal[True]
    agents: Annotated[list[AgentPresence], Doc("Every active agent, by name")]
    timeout_seconds: Annotated[int, Doc("PRESENCE_TIMEOUT_SECONDS: offline after this long without a heartbeat")]


Capacity = Annotated[int, Doc(minimum=0, maximum=1000)]


class RoutingRules(TypedDict):
    """Auto-assignment rules; off assigns nothing"""

    mode: Annotated[
        Literal["off", "round_robin", "least_loaded"],
        Doc(
            "round_robin: the online agent whose last automatic assignment is oldest; least_loaded: the online "
            "agent with the fewest open assigned conversations (a tie goes round-robin)"
        ),
    ]
    capacity: Annotated[Capacity, Doc("The most open assigned conversations an agent is given automatically")]
    capacities: Annotated[dict[str, Capacity], Doc("Per-agent overrides of capacity: agent id -> capacity")]
    returning_customer: Annotated[
        bool, Doc("A closed conversation the customer reopens goes back to its agent if online and under capacity")
    ]


class RoutingChange(TypedDict, total=False):
    """The whole rules (fields left out take their defaults: off, capacity 10, no overrides, no returning)"""

    mode: Literal["off", "round_robin", "least_loaded"]
    capacity: Capacity
    capacities: dict[str, Capacity]
    returning_customer: bool


class RoutingResult(TypedDict):
    success: Literal[True]
    routing: RoutingRules
    assigned: NotRequired[Annotated[Count, Doc("PUT: waiting conversations given to agents at once by the new rules")]]


class AwayReplySetting(TypedDict):
    """The automatic reply outside business hours: sent once per conversation per period, while the
    customer's 24-hour window is open; never to a group's thread, imported history or a blocked customer."""

    enabled: bool
    text: Annotated[str, Doc("The reply's text (1 to 4096 characters when enabled)", maxLength=4096)]
    period_hours: Annotated[
        int, Doc("At most one automatic reply per conversation in this many hours", minimum=1, maximum=720)
    ]


class AwayReplyChange(TypedDict, total=False):
    """The whole setting (fields left out take their defaults: off, no text, 24 hours)"""

    enabled: bool
    text: str
    period_hours: int


class AwayReplyResult(TypedDict):
    success: Literal[True]
    away_reply: AwayReplySetting


# --- typing indicators and agents' activity (POST /typing, /typing-settings, /activity) --------------

TypingReason = Literal[
    "disabled", "group", "no_inbound_message", "window_closed", "answered", "recently_sent", "meta_error"
]


class TypingResult(TypedDict):
    """Typing is best-effort: anything that keeps the indicator from going out is sent false, never an error."""

    success: Literal[True]
    conversation_id: int
    sent: Annotated[bool, Doc("Meta took the indicator (and marked the customer's message read)")]
    reason: Annotated[
        TypingReason | None,
        Doc(
            "Why none was sent (null when sent): disabled (the typing_indicators setting is off, or read "
            "receipts are), group (Meta takes none for group messages), no_inbound_message, window_closed "
            "(the 24-hour window), answered (a reply came after the customer's latest message), "
            "recently_sent (one went out for this conversation less than 20 s ago), meta_error (see meta_error)"
        ),
    ]
    message_id: Annotated[str | None, Doc("The wamid of the customer's message the indicator is (or would be) for")]
    meta_error: NotRequired[Annotated[str, Doc("reason meta_error: what WhatsApp answered")]]


class TypingSettings(TypedDict):
    enabled: Annotated[bool, Doc("Send the typing indicator to customers while agents type (default true)")]


class TypingSettingsResult(TypedDict):
    success: Literal[True]
    typing_indicators: TypingSettings


ActivityState = Literal["viewing", "typing", "left"]


class ActivityChange(CustomerFields, total=False):
    """The conversation (one of conversation_id, phone_number or user_id) and the agent's state in it"""

    state: Required[Annotated[ActivityState, Doc("left: the agent closed the thread (or the page)")]]
    agent_id: Annotated[int, Doc("With the service key only: the agent it is about (an agent's own key: itself)")]


class ActivityEntry(TypedDict):
    agent_id: int
    agent_name: str | None
    state: Literal["viewing", "typing"]
    until: Annotated[Time, Doc("Read as gone after this unless renewed (about 30 s after the last call)")]


class ActivityResult(TypedDict):
    success: Literal[True]
    conversation_id: int
    changed: Annotated[bool, Doc("The agent's state changed (an activity.updated event was sent); false: renewed")]
    activity: Annotated[list[ActivityEntry], Doc("Who is viewing or typing in the conversation now")]


class ActivityList(TypedDict):
    success: Literal[True]
    conversation_id: int
    activity: list[ActivityEntry]


# --- reports -------------------------------------------------------------------------------

Seconds = Annotated[float | None, Doc("Seconds; null when there is nothing to measure", minimum=0)]


class TimeFigures(TypedDict):
    """Durations measured in a group: how many, the median and the 90th percentile (nearest rank)."""

    count: Count
    median_seconds: Seconds
    p90_seconds: Seconds


class SplitTimeFigures(TimeFigures):
    in_hours: Annotated[TimeFigures, Doc("Those that began within business hours (all, without a schedule)")]
    out_of_hours: TimeFigures


class FirstResponseFigures(SplitTimeFigures):
    """Customer's first unanswered message -> the first agent reply after it (each such wait)."""

    unanswered: Annotated[Count, Doc("Waits of the period still without an agent's reply")]
    answered_in_app: Annotated[Count, Doc("Waits the owner answered from the WhatsApp Business app (not timed)")]


class ReportFigures(TypedDict):
    messages_in: Annotated[Count, Doc("Customers' messages (groups included)")]
    messages_out: Annotated[Count, Doc("Messages sent from the inbox (not reactions, not the app's echoes)")]
    opened: Annotated[Count, Doc("Conversations opened or reopened")]
    closed: Annotated[Count, Doc("Conversations closed")]
    first_response: FirstResponseFigures
    resolution: Annotated[SplitTimeFigures, Doc("Opened/reopened -> closed, for conversations closed in the period")]


class ReportGroup(ReportFigures):
    """One day (group_by=day: every day of the period) or one agent (group_by=agent)."""

    day: NotRequired[Annotated[str, Doc("YYYY-MM-DD", format="date")]]
    agent_id: NotRequired[Annotated[AgentId, Doc("null: no agent (unanswered, the service key)")]]
    agent_name: NotRequired[str | None]


ReportResult = TypedDict(
    "ReportResult",
    {
        "success": Literal[True],
        "from": Annotated[str, Doc("YYYY-MM-DD", format="date")],
        "to": Annotated[str, Doc("YYYY-MM-DD (included)", format="date")],
        "timezone": Annotated[str, Doc("The zone whose days are counted: the business hours' zone, else UTC")],
        "group_by": Literal["day", "agent"],
        "agent_id": AgentId,
        "target_minutes": Annotated[int | None, Doc("The first-response target (null: none set)")],
        "totals": ReportFigures,
        "groups": list[ReportGroup],
    },
)


class ResponseTarget(TypedDict):
    minutes: Annotated[int | None, Doc("Minutes to a first response; null: no target", minimum=1, maximum=10080)]


class ResponseTargetResult(TypedDict):
    success: Literal[True]
    minutes: Annotated[int | None, Doc("Minutes to a first response; null: no target")]
