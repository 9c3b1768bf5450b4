"""The template step: from an event's data to the words a user reads, in their language.

One template per (event type, channel, language). A locale falls back from
``fr-CA`` to ``fr`` to English, so a missing translation never blocks a
message. SMS bodies are cut to 160 characters (one SMS segment).

A template that needs a field the event does not carry cannot be rendered,
now or ever: :class:`TemplateError` is a *permanent* failure (a
``PermanentError`` and a ``KeyError``), so the worker dead-letters it at once
instead of retrying.
"""
from __future__ import annotations

import string

from msglib.dlq.classify import PermanentError

SMS_LIMIT = 160

TEMPLATES: dict[tuple[str, str], dict[str, str]] = {
    ("OrderPlaced", "email"): {
        "en": "Thanks for your order {order}! Total: {total}.",
        "fr": "Merci pour votre commande {order} ! Total : {total}.",
        "de": "Danke für Ihre Bestellung {order}! Summe: {total}.",
    },
    ("OrderPlaced", "push"): {
        "en": "Order {order} confirmed",
        "fr": "Commande {order} confirmée",
        "de": "Bestellung {order} bestätigt",
    },
    ("OrderShipped", "push"): {
        "en": "Order {order} is on its way",
        "fr": "La commande {order} est en route",
        "de": "Bestellung {order} ist unterwegs",
    },
    ("OrderShipped", "sms"): {
        "en": "Your order {order} shipped. Track: {tracking}",
        "fr": "Commande {order} expédiée. Suivi : {tracking}",
    },
    ("OrderShipped", "email"): {
        "en": "Good news: order {order} has shipped. Tracking number {tracking}.",
        "fr": "Bonne nouvelle : la commande {order} est expédiée. Suivi {tracking}.",
        "de": "Gute Nachricht: Bestellung {order} wurde versandt. Sendungsnummer {tracking}.",
    },
    ("DeliveryDelayed", "sms"): {
        "en": "Order {order} is delayed; new delivery day: {eta}",
        "de": "Bestellung {order} verspätet sich; neuer Liefertag: {eta}",
    },
    ("DeliveryDelayed", "push"): {
        "en": "Order {order} delayed until {eta}",
        "fr": "Commande {order} retardée jusqu'à {eta}",
    },
    ("PriceDropped", "push"): {
        "en": "The {product} you watch is now {price}",
        "fr": "Le produit {product} que vous suivez coûte {price}",
    },
    ("PriceDropped", "email"): {
        "en": "Price drop! The {product} on your list is down to {price}.",
        "fr": "Baisse de prix ! {product} passe à {price}.",
        "de": "Preissenkung! {product} kostet jetzt {price}.",
    },
    ("PasswordReset", "email"): {
        "en": "Your password reset code is {code}. If you did not ask for it, ignore this email.",
        "fr": "Votre code de réinitialisation est {code}.",
        "de": "Ihr Code zum Zurücksetzen lautet {code}.",
    },
    ("PasswordReset", "sms"): {
        "en": "Reset code: {code}",
        "fr": "Code : {code}",
        "de": "Code: {code}",
    },
}


class TemplateError(PermanentError, KeyError):
    """The event lacks a field its template needs: no retry can fix the data."""

    def __str__(self) -> str:          # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def language_chain(locale: str) -> list[str]:
    """``"fr-CA"`` -> ``["fr-CA", "fr", "en"]``: the languages to try, most specific first."""
    chain = [locale]
    base = locale.split("-")[0]
    if base != locale:
        chain.append(base)
    if "en" not in chain:
        chain.append("en")
    return chain


def template_for(event_type: str, channel: str, locale: str) -> tuple[str, str]:
    """(language used, template text) for an event type on a channel, falling back to English."""
    by_language = TEMPLATES.get((event_type, channel))
    if by_language is None:
        raise TemplateError(f"no template for {event_type} on {channel}")
    for language in language_chain(locale):
        if language in by_language:
            return language, by_language[language]
    raise TemplateError(f"no template for {event_type} on {channel} in {locale} or English")


def render(event_type: str, channel: str, locale: str, data: dict) -> str:
    """The text of one notification. Raises :class:`TemplateError` if ``data`` lacks a field."""
    _, text = template_for(event_type, channel, locale)
    needed = [name for _, name, _, _ in string.Formatter().parse(text) if name]
    missing = [name for name in needed if name not in data]
    if missing:
        raise TemplateError(f"{event_type} on {channel} needs {', '.join(missing)}; the event has "
                            f"{', '.join(sorted(data)) or 'no data'}")
    body = text.format(**{name: data[name] for name in needed})
    return body[:SMS_LIMIT] if channel == "sms" else body


__all__ = ["TEMPLATES", "SMS_LIMIT", "TemplateError", "language_chain", "template_for", "render"]
