"""The currency table (shared/currencies.py): every amount the shop stores is sent to each provider
in that provider's unit, and read back, exactly or not at all; and what Stripe would read from what
we send is the amount we meant (checked against the Stripe fake's own, independent rules)."""

from __future__ import annotations

from decimal import Decimal

import iso4217
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.currencies import (
    PROVIDERS,
    STRIPE_MAX_AMOUNT,
    Unrepresentable,
    from_decimal,
    from_provider,
    is_known,
    iso_exponent,
    to_decimal,
    to_provider,
)
from shared.money import MAX_AMOUNT
from tests.fakes.stripe_wire import check_amount, major_units

# Every ISO 4217 code with minor units: the shop may be configured to sell in any of them.
CURRENCIES = sorted(code.code for code in iso4217.Currency if is_known(code.code))
amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)


def sent_or_refused(provider: str, currency: str, minor: int) -> int | Unrepresentable:
    """What the provider would be sent, or the refusal."""
    try:
        return to_provider(provider, currency, minor)
    except Unrepresentable as refusal:
        return refusal


@settings(max_examples=400, deadline=None)
@given(provider=st.sampled_from(sorted(PROVIDERS)), currency=st.sampled_from(CURRENCIES), minor=amounts)
def test_any_amount_goes_to_a_provider_and_back_exactly_or_is_refused(
    provider: str, currency: str, minor: int
) -> None:
    sent = sent_or_refused(provider, currency, minor)
    if isinstance(sent, Unrepresentable):
        assert sent.rule  # a refusal always names the rule
        return
    assert sent >= 1
    assert from_provider(provider, currency, sent) == minor
    # The same amount as a decimal string (bKash, Nagad) converts back exactly too.
    assert from_decimal(provider, currency, to_decimal(provider, currency, minor)) == minor


@settings(max_examples=400, deadline=None)
@given(
    provider=st.sampled_from(sorted(PROVIDERS)),
    currency=st.sampled_from(CURRENCIES),
    reported=st.integers(min_value=0, max_value=STRIPE_MAX_AMOUNT * 100),
)
def test_any_amount_a_provider_reports_is_read_exactly_or_refused(
    provider: str, currency: str, reported: int
) -> None:
    try:
        minor = from_provider(provider, currency, reported)
    except Unrepresentable:
        return
    sent = sent_or_refused(provider, currency, minor)
    # The provider may not take it from us (its step or maximum), but we read it exactly.
    assert isinstance(sent, Unrepresentable) or sent == reported


@settings(max_examples=400, deadline=None)
@given(currency=st.sampled_from(CURRENCIES), minor=amounts)
def test_what_stripe_reads_is_the_amount_we_meant(currency: str, minor: int) -> None:
    """The fake keeps Stripe's rules apart from ours: whatever we send, it takes, and reads as ours."""
    sent = sent_or_refused("stripe", currency, minor)
    if isinstance(sent, Unrepresentable):
        return
    check_amount(sent, currency.lower())  # raises what Stripe would refuse
    meant = Decimal(minor).scaleb(-iso_exponent(currency))
    assert Decimal(major_units(sent, currency.lower())) == meant


@pytest.mark.parametrize(
    ("currency", "minor", "stripe_amount", "major"),
    [
        ("ISK", 5000, 500000, "5000.00"),  # ISO: no decimals; Stripe: two, always 00
        ("JPY", 1200, 1200, "1200"),
        ("KWD", 12340, 12340, "12.340"),
        ("MGA", 150000, 1500, "1500"),  # ISO: two decimals; Stripe: zero-decimal
        ("USD", 5000, 5000, "50.00"),
        ("BDT", 123450, 123450, "1234.50"),
    ],
)
def test_known_amounts_reach_stripe_at_their_real_size(
    currency: str, minor: int, stripe_amount: int, major: str
) -> None:
    assert to_provider("stripe", currency, minor) == stripe_amount
    assert major_units(stripe_amount, currency.lower()) == major
    assert from_provider("stripe", currency.lower(), stripe_amount) == minor


@pytest.mark.parametrize(
    ("provider", "currency", "minor", "rule"),
    [
        ("stripe", "KWD", 12345, "last digit is 0"),
        ("stripe", "MGA", 150050, "whole units"),
        ("stripe", "IQD", 1000, "no unit"),
        ("stripe", "USD", 100_000_000, "at most 99999999"),
        ("stripe", "USD", 0, "positive"),
        ("bkash", "USD", 1000, "BDT only"),
        ("nagad", "EUR", 1000, "BDT only"),
    ],
)
def test_amounts_a_provider_cannot_take_are_refused_naming_the_rule(
    provider: str, currency: str, minor: int, rule: str
) -> None:
    with pytest.raises(Unrepresentable) as refused:
        to_provider(provider, currency, minor)
    assert rule in refused.value.rule


def test_stripe_amounts_that_are_not_whole_minor_units_are_never_rounded() -> None:
    with pytest.raises(Unrepresentable):
        from_provider("stripe", "isk", 500050)  # half a króna
    assert from_provider("stripe", "isk", 500000) == 5000
    with pytest.raises(Unrepresentable):
        from_decimal("bkash", "BDT", "10.005")
