"""Currencies: how many decimals each one has, and how each payment provider wants its amounts.

Every stored amount is an integer in the currency's ISO 4217 minor units (`shared.money`): 5000 ISK
is 5000 (the króna has no minor unit), 12.340 KWD is 12340 fils, 10.00 USD is 1000 cents. Providers
do not all count that way, so every amount that goes to a provider, or comes back from one (a
payment, a refund, a webhook, a query), is converted here, exactly or not at all: an amount the
provider cannot represent is refused (`Unrepresentable`, naming the rule) before anything is
created, and a provider amount that is not a whole number of our minor units is never rounded.

Sources of the table:

- **ISO 4217 exponents**: SIX's official list one (published 2026-01-01), as shipped by the `iso4217`
  package (public domain; it parses SIX's XML table): `iso4217.Currency(code).exponent`. Codes whose
  minor unit is "N.A." (gold, SDR, test codes) are no money a shop sells and are refused.
  `WITHDRAWN` keeps the exponent of codes withdrawn recently, so amounts stored in them still convert.
- **Stripe**, "Supported currencies" (https://docs.stripe.com/currencies):
  * amounts are integers in the currency's smallest unit, two-decimal unless listed otherwise;
  * zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF. ISO 4217 gives
    MGA two decimals, so Stripe's ariary are our amount / 100 and only whole ariary can be charged;
  * three-decimal: BHD JOD KWD OMR TND, where "the least-significant (last) digit must be 0";
  * special cases: ISK is zero-decimal in ISO 4217 but stays two-decimal in Stripe's API for
    backwards compatibility, with the decimals 00 (Stripe support, "Deprecation of fractional ISK
    charges and refunds", from 14 April 2023: amounts must be divisible by 100, else
    `invalid_charge_amount_no_decimal_compatible`); HUF and TWD charges are two-decimal (their
    zero-decimal rule is for payouts, which the shop does not make);
  * the PaymentIntent `amount` "supports up to eight digits" (API reference; the same text is in
    stripe-python 16.1.0's `PaymentIntentCreateParams.amount`) and must be positive.
  Currencies with more ISO decimals than two that are not on Stripe's three-decimal list (IQD and
  LYD: 3, CLF and UYW: 4) have no documented Stripe unit: refused rather than guessed.
- **bKash and Nagad**: BDT only, amounts as decimal strings with two decimals ("1234.50"; bKash's
  tokenized checkout `amount` and `refundAmount`, Nagad's `amount` and `cancelAmount`).
- **sandbox**: every currency, in ISO minor units as stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated

import iso4217
from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

# Codes removed from list one recently (ANG by XCG in 2025, BGN by EUR on 2026-01-01), with their
# exponents, so amounts stored in them before still convert.
WITHDRAWN = {"ANG": 2, "BGN": 2}

STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())  # noqa: SIM905
STRIPE_MAX_AMOUNT = 99_999_999  # eight digits, in Stripe's unit

SINGLE_CURRENCY = {"bkash": "BDT", "nagad": "BDT"}


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code with a known number of decimals."""


class Unrepresentable(ValueError):
    """A provider cannot take this amount (or currency); `rule` says which of its rules forbids it."""

    def __init__(self, provider: str, currency: str, rule: str) -> None:
        super().__init__(f"{provider} cannot take this {currency} amount: {rule}")
        self.provider = provider
        self.currency = currency
        self.rule = rule


@dataclass(frozen=True)
class ProviderUnit:
    """How one provider counts one currency: integers of 10^-exponent major units."""

    provider: str
    currency: str
    exponent: int
    step: int = 1  # the provider's amounts must be multiples of this
    maximum: int | None = None  # the largest amount the provider takes, in its unit
    rule: str = ""  # the provider's rule for this currency, quoted when an amount breaks it


def iso_exponent(currency: str) -> int:
    """The number of decimals of an ISO 4217 currency (JPY 0, USD 2, KWD 3)."""
    currency = currency.upper()
    if currency in WITHDRAWN:
        return WITHDRAWN[currency]
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        exponent = None
    if exponent is None:
        raise UnknownCurrency(f"{currency[:8]!r} is not an ISO 4217 currency with minor units")
    return exponent


def is_known(currency: str) -> bool:
    try:
        iso_exponent(currency)
    except UnknownCurrency:
        return False
    return True


def _stripe(currency: str) -> ProviderUnit:
    if currency in STRIPE_ZERO_DECIMAL:
        return ProviderUnit(
            "stripe",
            currency,
            0,
            maximum=STRIPE_MAX_AMOUNT,
            rule=f"Stripe charges {currency} as a zero-decimal currency: whole units only",
        )
    if currency in STRIPE_THREE_DECIMAL:
        return ProviderUnit(
            "stripe",
            currency,
            3,
            step=10,
            maximum=STRIPE_MAX_AMOUNT,
            rule=f"Stripe takes three-decimal {currency} amounts only when their last digit is 0",
        )
    if currency == "ISK":
        return ProviderUnit(
            "stripe",
            currency,
            2,
            step=100,
            maximum=STRIPE_MAX_AMOUNT,
            rule="Stripe takes ISK as a two-decimal currency whose decimals must be 00 (whole krónur)",
        )
    if iso_exponent(currency) > 2:
        raise Unrepresentable(
            "stripe",
            currency,
            f"Stripe documents no unit for {currency}'s {iso_exponent(currency)} decimals",
        )
    return ProviderUnit(
        "stripe", currency, 2, maximum=STRIPE_MAX_AMOUNT, rule=f"Stripe takes {currency} in hundredths"
    )


def _single_currency(provider: str) -> Callable[[str], ProviderUnit]:
    def unit(currency: str) -> ProviderUnit:
        accepted = SINGLE_CURRENCY[provider]
        if currency != accepted:
            raise Unrepresentable(provider, currency, f"{provider} takes {accepted} only")
        return ProviderUnit(provider, currency, 2, rule=f"{provider} takes {currency} with two decimals")

    return unit


def _sandbox(currency: str) -> ProviderUnit:
    return ProviderUnit("sandbox", currency, iso_exponent(currency), rule="the sandbox takes ISO minor units")


PROVIDERS: dict[str, Callable[[str], ProviderUnit]] = {
    "stripe": _stripe,
    "bkash": _single_currency("bkash"),
    "nagad": _single_currency("nagad"),
    "sandbox": _sandbox,
}


def provider_unit(provider: str, currency: str) -> ProviderUnit:
    """How `provider` counts `currency`; Unrepresentable if it does not take that currency at all."""
    currency = currency.upper()
    try:
        iso_exponent(currency)
    except UnknownCurrency as error:
        raise Unrepresentable(provider, currency, str(error)) from error
    return PROVIDERS[provider](currency)


def _power_of_ten(exponent: int) -> int:
    factor: int = 10**exponent
    return factor


def to_provider(provider: str, currency: str, minor: int) -> int:
    """Our minor units as the provider's integer amount; Unrepresentable unless exact and allowed."""
    unit = provider_unit(provider, currency)
    shift = unit.exponent - iso_exponent(currency)
    factor = _power_of_ten(abs(shift))
    if shift >= 0:
        amount = minor * factor
    elif minor % factor:
        raise Unrepresentable(provider, currency, unit.rule)
    else:
        amount = minor // factor
    if amount < 1:
        raise Unrepresentable(provider, currency, f"{provider} takes positive amounts only")
    if amount % unit.step:
        raise Unrepresentable(provider, currency, unit.rule)
    if unit.maximum is not None and amount > unit.maximum:
        raise Unrepresentable(
            provider, currency, f"{provider} takes at most {unit.maximum} in its unit (eight digits)"
        )
    return amount


def from_provider(provider: str, currency: str, amount: int) -> int:
    """A provider's integer amount in our minor units; Unrepresentable unless it converts exactly.

    Lenient on the provider's own rules (step, maximum): whatever it reports happened, and is booked
    exactly when it can be.
    """
    unit = provider_unit(provider, currency)
    shift = unit.exponent - iso_exponent(currency)
    factor = _power_of_ten(abs(shift))
    if amount < 0:
        raise Unrepresentable(provider, currency, "a negative amount")
    if shift <= 0:
        return amount * factor
    if amount % factor:
        raise Unrepresentable(
            provider, currency, f"{amount} in {provider}'s unit is not a whole number of minor units"
        )
    return amount // factor


def to_decimal(provider: str, currency: str, minor: int) -> str:
    """Our minor units as the provider's decimal string: 123450 BDT -> "1234.50"."""
    unit = provider_unit(provider, currency)
    amount = to_provider(provider, currency, minor)
    if unit.exponent == 0:
        return str(amount)
    whole, fraction = divmod(amount, 10**unit.exponent)
    return f"{whole}.{fraction:0{unit.exponent}d}"


def from_decimal(provider: str, currency: str, value: object) -> int:
    """A provider's decimal amount ("100", "600.00") in our minor units, exactly or Unrepresentable."""
    unit = provider_unit(provider, currency)
    text = str(value).strip()[:40]
    try:
        scaled = Decimal(text).scaleb(unit.exponent)
    except InvalidOperation as error:
        raise Unrepresentable(provider, currency, f"{text[:20]!r} is not a number") from error
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise Unrepresentable(provider, currency, f"{text[:20]!r} is not a whole number of its unit")
    return from_provider(provider, currency, int(scaled))


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [code.strip().upper() for code in value.split(",") if code.strip()]
    return value


def _known_codes(codes: list[str]) -> list[str]:
    unknown = [code for code in codes if not is_known(code)]
    if unknown:
        raise ValueError(f"not ISO 4217 currencies with minor units: {', '.join(unknown)}")
    if not codes:
        raise ValueError("name at least one currency")
    return list(dict.fromkeys(codes))


# A setting naming currencies, written SHOP_CURRENCIES=BDT,USD,EUR.
CurrencyCodes = Annotated[
    list[str], NoDecode, BeforeValidator(_comma_separated), AfterValidator(_known_codes)
]
