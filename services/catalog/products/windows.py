"""Keyset windows: one page of a sorted listing read in O(page size) on any planner.

A listing is served by an index whose keys are the equality fields, then the sort key, then `_id`
(collections.py). MongoDB reads such an index in order and stops after the page. The embedded
server cannot stop early: it fetches every document the index bounds admit and sorts them in
memory, so an unbounded "newest first" page read every product. What both planners bound is a
range on the field after the equalities. So a page is read as a few **windows**, each a range of
the sort key next to the cursor (or of `_id` within the cursor's own sort key, for ties), sized to
hold about one page:

- the cursor's own sort key first: `{sort key: k, _id: beyond the cursor}`, windows of `_id`;
- then `{sort key: beyond k}`, windows of the sort key, until the page is full.

Each window continues exactly where the last one ended (the bound value is shared, exclusive on
one side and inclusive on the other), and the last one is unbounded, so what a walk returns never
depends on the sizes chosen: a wrong guess costs time, never an item.

Sizes come from the density each listing shape showed before (documents per unit of the key,
remembered per process in a bounded LRU): a window aims at the documents still needed. An empty
window is widened WIDEN times; one that found some is extrapolated from what it found; after
MAX_EMPTY empty windows in a row, or past the end of the key's scale, the rest is read unbounded.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bson import ObjectId

from shared.db import Document

AIM = 1.5  # a window is sized for this many times the documents still needed
WIDEN = 4.0  # an empty window's successor is this much wider
GROW = 4.0  # a window that held too few: its successor is at most this much wider
MAX_EMPTY = 6  # empty windows in a row before the rest is read unbounded
SHAPES = 4096  # listing shapes whose densities a process remembers
MAX_DOUBLINGS = 64  # how often a window's width may double before its near key is passed
BISECT_STEPS = 24  # halvings that find where the scale stops reading a window's near key


class Scale(Protocol):
    """Where keys of one type lie on a line, so that a window can be given a width."""

    def position(self, key: Any) -> float: ...

    def key_at(self, position: float) -> Any | None:
        """The key at `position`, or None outside the scale (the window then has no far bound)."""
        ...


class TimeScale:
    """Dates, in seconds; stored with millisecond precision, as BSON keeps them."""

    LAST = datetime(2200, 1, 1, tzinfo=UTC).timestamp()

    def position(self, key: datetime) -> float:
        return key.timestamp()

    def key_at(self, position: float) -> datetime | None:
        if not 0 < position < self.LAST:
            return None
        return datetime.fromtimestamp(math.floor(position * 1000) / 1000, UTC)


class AmountScale:
    """Integer amounts from 0 to `largest`, by their logarithm: prices spread evenly that way (as
    many products between 100 and 200 as between 1,000 and 2,000), so a window's width in this scale
    holds about as many of them wherever it lies."""

    def __init__(self, largest: int) -> None:
        self.largest = largest
        self._last = math.log1p(largest)

    def position(self, key: int) -> float:
        return math.log1p(max(key, 0))

    def key_at(self, position: float) -> int | None:
        if not 0 <= position <= self._last:
            return None
        return min(math.floor(math.expm1(position)), self.largest)


class TextScale:
    """Strings by their first characters, read as digits over the alphabet of names' sort keys
    (space, digits, lower-case letters; search.name_key), so that a width spans letters rather
    than the unused code points between them. Other characters count as the nearest below."""

    ALPHABET = "\x00 0123456789abcdefghijklmnopqrstuvwxyz\x7f"
    DIGITS = 7

    def position(self, key: str) -> float:
        base = len(self.ALPHABET)
        return sum(
            self._digit(char) * float(base) ** -(index + 1) for index, char in enumerate(key[: self.DIGITS])
        )

    def key_at(self, position: float) -> str | None:
        if not 0 <= position < 1:
            return None
        chars = []
        for _ in range(self.DIGITS):
            position *= len(self.ALPHABET)
            digit = min(int(position), len(self.ALPHABET) - 1)
            chars.append(self.ALPHABET[digit])
            position -= digit
        return "".join(chars).rstrip("\x00")

    def _digit(self, char: str) -> int:
        return bisect.bisect_right(self.ALPHABET, char) - 1


class IdScale:
    """ObjectIds as 96-bit numbers (their first 32 bits are seconds, so 2**64 is about a second)."""

    def position(self, key: ObjectId) -> float:
        return float(int.from_bytes(key.binary, "big"))

    def key_at(self, position: float) -> ObjectId | None:
        if not 0 <= position < 2.0**96:
            return None
        return ObjectId(int(position).to_bytes(12, "big"))


ID_SCALE = IdScale()
# The first width of a tie segment never seen before: a second of ObjectIds.
FIRST_TIE_WIDTH = 2.0**64


@dataclass
class Learned:
    """What a listing shape showed before: documents per unit of its key, and where it started."""

    density: float | None = None
    origin: Any = None  # the first key of its first page


class ShapeMemory:
    """Densities per listing shape, most recently used kept (a bounded, per-process cache)."""

    def __init__(self, capacity: int = SHAPES) -> None:
        self.capacity = capacity
        self._shapes: OrderedDict[Hashable, Learned] = OrderedDict()

    def get(self, shape: Hashable) -> Learned:
        learned = self._shapes.get(shape)
        if learned is None:
            learned = self._shapes[shape] = Learned()
            if len(self._shapes) > self.capacity:
                self._shapes.popitem(last=False)
        self._shapes.move_to_end(shape)
        return learned

    def clear(self) -> None:
        self._shapes.clear()


def learn(learned: Learned, observed: float) -> None:
    """Blend an observed density into what was known (geometric mean: one odd page does not rule)."""
    if observed <= 0:
        return
    learned.density = observed if learned.density is None else math.sqrt(learned.density * observed)


@dataclass(frozen=True)
class Start:
    key: Any
    inclusive: bool


@dataclass(frozen=True)
class Window:
    """One query's range of the walked field: `{field: bounds}`."""

    bounds: Document
    final: bool  # no far bound: whatever is left comes back
    near: float | None  # position the window starts at (for the density it shows)
    width: float | None


@dataclass
class Segment:
    """Windows over one field in one direction, from `start` on, until `need` documents are found.

    `origin` is where the first window of a walk without a start is measured from (the first key
    seen last time, or the scale's own beginning); that first window is open towards it, so
    anything before it is found too.
    """

    path: str  # the field walked
    scale: Scale
    direction: int  # 1 ascending, -1 descending
    learned: Learned
    need: int
    start: Start | None = None
    origin: Any = None
    end: Start | None = None  # the far limit of the walk (a price range), inclusive or not
    first_width: float | None = None  # without any learned density (None: one unbounded read)
    max_empty: int = MAX_EMPTY
    last: Any = None  # the last key known to be there: what lies beyond it is read in one window
    widen: float = WIDEN  # an empty window's successor is this much wider
    found: int = 0
    _width: float | None = field(default=None, init=False)
    _empty: int = field(default=0, init=False)
    _done: bool = field(default=False, init=False)
    _seen_width: float = field(default=0.0, init=False)
    _seen_docs: int = field(default=0, init=False)

    def next_window(self) -> Window | None:
        """The next range to read, or None when the segment is complete."""
        if self._done or self.found >= self.need:
            return None
        width = self._width if self._width is not None else self._initial_width()
        near_key = self.start.key if self.start is not None else self.origin
        near = self.scale.position(near_key) if near_key is not None else None
        bound = None
        past_last = (
            self.last is not None and near_key is not None and beyond(near_key, self.last, self.direction)
        )
        if width is not None and near is not None and self._empty < self.max_empty and not past_last:
            bound = self._bound(near, width, near_key)
        bounds = self._near_bounds()
        if bound is not None and not self._beyond_end(bound):
            bounds[self._op(far=True, inclusive=False)] = bound
            return Window(bounds, final=False, near=near, width=width)
        if self.end is not None:
            bounds[self._op(far=True, inclusive=self.end.inclusive)] = self.end.key
        self._done = True
        return Window(bounds, final=True, near=near, width=None)

    def record(self, window: Window, docs: list[Document], asked: int) -> None:
        """What a window returned (sorted, at most `asked`): move on, and note the density it shows."""
        self.found += len(docs)
        self._observe(window, docs, asked)
        if window.final:
            return
        self.start = Start(window.bounds[self._op(far=True, inclusive=False)], inclusive=True)
        if not docs:
            self._empty += 1
            self._width = (window.width or 0.0) * self.widen
            return
        self._empty = 0
        # Extrapolated from what it held, but at most GROW times wider: density changes along a key
        # (few products at the highest prices, many in the middle), and reading too much costs more
        # than one more query.
        width = window.width or 0.0
        wanted = AIM * (self.need - self.found) / len(docs)
        self._width = width * min(max(wanted, 1.0), GROW)

    def finish(self) -> None:
        """Remember the density this walk showed, for the next page of the same shape."""
        if self._seen_docs and self._seen_width > 0:
            learn(self.learned, self._seen_docs / self._seen_width)

    def _observe(self, window: Window, docs: list[Document], asked: int) -> None:
        """Note the density a window showed: over its whole width when it was read whole, over the
        span its documents occupy when the limit cut it short; an empty window, or an unbounded one
        that was not cut short, says nothing about it."""
        if len(docs) < asked:
            if docs and window.width is not None:
                self._seen_width += window.width
                self._seen_docs += len(docs)
        elif len(docs) > 1:
            first, last = (self.scale.position(_value(doc, self.path)) for doc in (docs[0], docs[-1]))
            if last != first:
                self._seen_width += abs(last - first)
                self._seen_docs += len(docs) - 1

    def _initial_width(self) -> float | None:
        if self.learned.density:
            return AIM * (self.need - self.found) / self.learned.density
        return self.first_width

    def _bound(self, near: float, width: float, near_key: Any) -> Any | None:
        """The key `width` beyond `near`, made strictly beyond the near key: where the scale still
        reads the near key there (rounding, or on a rank scale many products at that key), `width`
        beyond the point where it stops reading it."""
        key = self.scale.key_at(near + self.direction * width)
        if key is None or beyond(key, near_key, self.direction):
            return key
        low, high = width, 2 * width  # the near key is read at `low`; find a `high` where it is not
        for _ in range(MAX_DOUBLINGS):
            if self._passes(near + self.direction * high, near_key):
                break
            low, high = high, 2 * high
        else:
            return None
        for _ in range(BISECT_STEPS):  # then narrow down where it stops being read
            middle = (low + high) / 2
            low, high = (
                (low, middle) if self._passes(near + self.direction * middle, near_key) else (middle, high)
            )
        return self.scale.key_at(near + self.direction * (high + width))

    def _passes(self, position: float, near_key: Any) -> bool:
        key = self.scale.key_at(position)
        return key is None or beyond(key, near_key, self.direction)

    def _near_bounds(self) -> Document:
        if self.start is None:
            return {}
        return {self._op(far=False, inclusive=self.start.inclusive): self.start.key}

    def _beyond_end(self, key: Any) -> bool:
        if self.end is None:
            return False
        # A bound at the end itself is the end: the last window takes the end's own bound.
        return beyond(key, self.end.key, self.direction) or key == self.end.key

    def _op(self, *, far: bool, inclusive: bool) -> str:
        upward = (self.direction == 1) != far  # the near side of an ascending walk is a lower bound
        return ("$gt" if upward else "$lt") + ("e" if inclusive else "")


def beyond(key: Any, other: Any, direction: int) -> bool:
    """Whether `key` comes after `other` in a walk in `direction` (1 ascending, -1 descending)."""
    return bool(key > other) if direction == 1 else bool(key < other)


def _value(doc: Document, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value[part]
    return value
