"""All SQL of the service, one module a job; this package hands their names on.

Every function takes the connection; callers own the transaction (`db.write_transaction`), so one
webhook delivery or one send step is one unit of work.
"""

from . import (
    groups,  # noqa: F401  (the Groups API's appliers register on import)
    signals,  # noqa: F401  (appliers of the account signals)
)
from .actions import mark_unread, note_retry, snooze, snoozed_counts  # noqa: F401
from .away_reply import (  # noqa: F401
    abandon_away_reply,
    away_replies_abandoned,
    away_replies_due,
    away_replies_waiting,
    claim_away_reply,
    settle_away_reply,
)
from .coexistence import apply_contact, apply_echo, apply_history, history_import  # noqa: F401
from .common import (  # noqa: F401
    CONVERSATION_STATUSES,
    LOCAL_PREFIX,
    STALE_PENDING,
    STATUS_RANK,
    ago,
    emit,
    emit_message,
    events_after,
    events_prune,
    last_event_id,
    now,
    oldest_event_id,
    one,
    preview,
    stamp,
)
from .customers import (  # noqa: F401
    adopt_identity,
    assign,
    find_conversation,
    learn_identity,
    mark_read,
    merge,
    merged_into,
    release_identifier,
    resolve_conversation,
    set_status,
    touch_conversation,
    update_conversation,
)
from .group_threads import participants, resolve_group  # noqa: F401
from .inbound import (  # noqa: F401
    IngestResult,
    annotated,
    apply_delivery,
    apply_parked,
    apply_status,
    customer_for,
    store_inbound,
    transition,
)
from .journal import (  # noqa: F401
    delivery_health,
    journal_counts,
    journal_finish,
    journal_insert,
    journal_prune,
    journal_unprocessed,
    note_fields,
)
from .labels import (  # noqa: F401
    LabelExists,
    add_label,
    all_labels,
    create_label,
    delete_label,
    find_label,
    get_label,
    label_counts,
    labels_for,
    remove_label,
    update_label,
)
from .media_files import claim_media, media_due, media_failed, media_fetchable, media_ready  # noqa: F401
from .notes import (  # noqa: F401
    add_note,
    delete_note,
    get_note,
    list_mentions,
    list_notes,
    mark_mentions_read,
    mentions_of_notes,
    unread_mentions,
)
from .outbound import (  # noqa: F401
    RETRYABLE_ANSWERS,
    create_outbound,
    find_by_key,
    mark_accepted,
    mark_failed,
    mark_unknown,
    new_local_id,
    reopen_for_retry,
)
from .pricing import billable_by_category, open_entry_window, record_pricing, set_blocked  # noqa: F401
from .queries import (  # noqa: F401
    TABS,
    annotations_for,
    conversation_counts,
    conversation_filters,
    count_conversations,
    get_message,
    list_conversations,
    list_messages,
    message_in_conversation,
    messages_by_wamid,
    search,
    snippets,
    stats,
    tab_counts,
)
from .settings import get_setting, put_setting  # noqa: F401
