"""Money on the wire: an integer amount in minor units and an ISO 4217 currency code. Never floats.

Minor units are the currency's own, as ISO 4217 counts them: cents for USD (2 decimals), whole yen
and krónur for JPY and ISK (0), fils for KWD (3). `shared.currencies` knows each currency's decimals
and converts to and from each payment provider's unit; the shop's currencies are SHOP_CURRENCIES.

Bounds, each checked where input enters, before anything is written:

- `MAX_AMOUNT` = 10^12 minor units (10 billion taka or dollars): every amount that is stored or sent,
  whether a unit price, a line total, a cart or order total, a payment or a refund. `Money` checks it
  on input; the order service refuses a line, cart or order whose total would pass it (422
  `total-too-large`) before writing anything.
- `MAX_LINE_QUANTITY` = 10,000 units in one order or cart line (request schemas; the order service's
  settings set the shop's own, lower, limit).
- `MAX_LINES` = 100 lines in one order or cart (request schemas and settings).
- `MAX_STOCK` = 10^9 units of one product, for what an admin sets or adds (catalog schemas and a
  guarded `$inc`).

Why these numbers: BSON stores these integers as int64 (at most 2^63 - 1, about 9.2 * 10^18), and
the SPA reads JSON numbers as IEEE doubles, exact only up to 2^53 - 1 (about 9.0 * 10^15). Every
amount that is stored is at most 10^12: 9,000 times below the JavaScript limit and 9 million times
below int64. Even the unchecked arithmetic before a bound is tested, MAX_AMOUNT * MAX_LINE_QUANTITY
* MAX_LINES = 10^18, stays inside int64, so no intermediate sum overflows in Python, in MongoDB or in
any other consumer. Stock moves by at most MAX_LINE_QUANTITY per line or 10^6 per adjustment, so it
stays far inside int64 even after returns push it above MAX_STOCK.

Reading never re-checks the bounds: responses use `MoneyOut`, which accepts any stored integer, so a
document written before a bound existed (or by hand) is shown, never turned into a 500.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.json_numbers import JsonInt

# Active ISO 4217 codes (2025 list), so a typo such as "USS" is refused rather than stored.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD
    XCG XOF XPF YER ZAR ZMW ZWG""".split()  # noqa: SIM905 - a compact table
)
MAX_AMOUNT = 10**12
MAX_LINE_QUANTITY = 10_000
MAX_LINES = 100
MAX_STOCK = 10**9

INT64_MAX = 2**63 - 1
JAVASCRIPT_SAFE_INTEGER = 2**53 - 1
# The arithmetic argument above, checked whenever someone changes a bound.
assert MAX_AMOUNT * MAX_LINE_QUANTITY * MAX_LINES < INT64_MAX
assert MAX_AMOUNT * 1000 < JAVASCRIPT_SAFE_INTEGER


def within_bounds(amount: int) -> bool:
    """True when an amount may be stored (a derived total is checked with this before any write)."""
    return 0 <= amount <= MAX_AMOUNT


def _known_currency(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError("must be an ISO 4217 currency code in upper case, such as BDT or USD")
    return code


# The document lists the codes (an enum), so a client knows before sending what is refused.
Currency = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        pattern="^[A-Z]{3}$",
        examples=["BDT"],
        json_schema_extra={"enum": sorted(ISO_4217)},
    ),
    AfterValidator(_known_currency),
]


class Money(BaseModel):
    """An amount a client sends (a price, a refund): checked against the bounds."""

    model_config = ConfigDict(extra="forbid")

    amount: JsonInt = Field(
        ge=0,
        le=MAX_AMOUNT,
        description="ISO 4217 minor units: cents for USD, whole yen for JPY, fils (1/1000) for KWD.",
    )
    currency: Currency


class MoneyOut(BaseModel):
    """An amount as stored, in a response: never re-validated, so reading can never fail on it."""

    amount: int = Field(
        description=f"ISO 4217 minor units (cents for USD, whole yen for JPY, fils for KWD); at most "
        f"{MAX_AMOUNT} for anything written under the bounds."
    )
    currency: str = Field(description="ISO 4217 code.", examples=["BDT"])
