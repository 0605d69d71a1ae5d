"""What a reply would cost, said before it is sent, by Meta's per-message pricing (since 1 July 2025).

Meta's pricing page (developers.facebook.com/documentation/business-messaging/whatsapp/pricing, as
updated 1 July 2026) says:
- non-template messages (text, media, ...: category `service`) are free, and can only be sent inside an
  open customer service window (24 hours from the customer's last message);
- utility templates delivered inside an open customer service window are free;
- marketing and authentication templates are always charged;
- every message, templates included, is free inside an open free entry point window (72 hours, opened
  by replying to a customer who came from a click-to-WhatsApp ad or a Page button).
Partners report that service replies become billable from October 2026; Meta's page does not say so,
so these rules follow Meta's page. The statuses' `pricing` objects (stored on each message) say what
Meta actually charged; this is the forecast shown to agents. Pure: no SQL, no Flask.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .api_shapes import Cost, ReplyCost

TEMPLATE_CATEGORIES = ("marketing", "utility", "authentication")


def _open(until: str | None, at: datetime) -> bool:
    if not until:
        return False
    try:
        return datetime.fromisoformat(until).replace(tzinfo=UTC) > at
    except ValueError:
        return False


def reply_cost(
    window_open: bool,
    window_until: str | None,
    free_entry_until: str | None,
    at: datetime | None = None,
) -> ReplyCost:
    """Whether a free-form reply and each template category would be charged if sent now."""
    at = at or datetime.now(UTC)
    entry_open = _open(free_entry_until, at)

    def cost(category: str) -> Cost:
        if entry_open:
            return {
                "category": category,
                "charged": False,
                "pricing_type": "free_entry_point",
                "note": f"Free: the free entry point window is open until {free_entry_until} UTC",
            }
        if category == "service":
            return {
                "category": "service",
                "charged": False,
                "pricing_type": "free_customer_service",
                "note": f"Free: a reply inside the customer service window (open until {window_until} UTC)",
            }
        if category == "utility" and window_open:
            return {
                "category": "utility",
                "charged": False,
                "pricing_type": "free_customer_service",
                "note": f"Free: utility templates inside the customer service window (open until {window_until} UTC)",
            }
        reason = "always charged" if category != "utility" else "charged outside the customer service window"
        return {
            "category": category,
            "charged": True,
            "pricing_type": "regular",
            "note": f"Charged at Meta's {category} rate for the customer's country ({category} templates are {reason})",
        }

    return {
        "free_form": cost("service") if window_open else None,
        "templates": {category: cost(category) for category in TEMPLATE_CATEGORIES},  # type: ignore[typeddict-item]
        "free_entry_point_until": free_entry_until if entry_open else None,
    }
