"""Prepared reads: the one module that reaches into Django's query compiler and the caches
of related objects (tests/test_architecture.py keeps every other module to public APIs).

On the hottest reads (a page of cards, the status poll, an image's permission check, the
credit header) the ORM spends longer building a query than the database spends running it
(`python -m bench.profile`). A prepared read is an ordinary `values_list` queryset, built
by the usual functions (so `visible_to` stays the one rule of who sees what) from
stand-ins for the values that change between requests. Its SQL is kept per process,
database, shape and number of values in each list; a call puts the real values where the
stand-ins were, runs it on the database the routers pick for reading the model, and reads
the columns through the ORM's own converters. A read's shape is whatever changes the SQL
besides the values: which filters apply, whether the member is staff, a page size.

`cards_from_rows` makes generations of a page of cards from one query's rows, with their
results, owner and API task where select_related and prefetch_related would keep them.

tests/test_prepared_reads.py compares every read here with the plain ORM's, for owner,
teammate, staff, private and deleted rows, on SQLite and PostgreSQL; CI runs it on the
newest Django release too (.ci/run), so a change in these internals fails there first.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import uuid
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from generations.models import Generation, ResultImage

type Row = tuple[Any, ...]
type Build = Callable[..., models.QuerySet[Any, Any]]
type Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


class ShapeError(Exception):
    """The read's SQL holds one of its values as text, or sends it changed, not as a
    parameter of its own."""


@dataclass(frozen=True)
class _Slot:
    """Where a request's value goes: its name, and its index in its list (or None)."""

    name: str
    index: int | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: list[Any]  # a _Slot for each request value, the rest sent as they are
    converters: dict[int, tuple[list[Converter], Any]]
    order: list[int]


# A read whose SQL the ORM found could match nothing (an empty list of ids).
_NOTHING = _Compiled(sql="", params=[], converters={}, order=[])


class _OutOfRange(Exception):
    pass


def member(pk: int | None, is_staff: bool) -> User:
    """A member as a read's shape (staff or not) and values (their id) describe them: all
    that `visible_to` and the other rules ask of one."""
    user: User = get_user_model()(pk=pk, is_staff=is_staff)
    return user


class Read:
    def __init__(self, model: type[models.Model], build: Build, **values: models.Field[Any, Any]):
        """`build(shape, **values)` makes the queryset of `model` (a `values_list`); each
        value is named with the model field it is compared with, which says how it is sent
        to the database (a list of values: the field of its items)."""
        self.model = model
        self.build = build
        self.fields = values
        self._compiled: dict[Hashable, _Compiled] = {}

    def rows(self, shape: Hashable, **values: Any) -> list[Row]:
        """The rows of the read, in the columns its `values_list` names. A value left out
        (or None) is passed to `build` as None. Values are compared for equality, so an
        integer beyond its column's range matches no row (the ORM would not even ask)."""
        using = router.db_for_read(self.model)
        connection = connections[using]
        lengths = tuple(_length(values.get(name)) for name in self.fields)
        key = (using, shape, lengths)
        compiled = self._compiled.get(key)
        if compiled is None:
            # Two threads may both compile it at first: the same SQL, kept once.
            compiled = self._compiled[key] = self._compile(connection, shape, lengths, using)
        if compiled is _NOTHING:
            return []
        try:
            params = [
                self._prep(connection, part, values[part.name]) if isinstance(part, _Slot) else part
                for part in compiled.params
            ]
        except _OutOfRange:
            return []
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        if compiled.converters:
            fetched = [_convert(row, compiled.converters, connection) for row in fetched]
        return [tuple(row[position] for position in compiled.order) for row in fetched]

    def _prep(self, connection: BaseDatabaseWrapper, slot: _Slot, value: Any) -> Any:
        if slot.index is not None:
            value = value[slot.index]
        field = self.fields[slot.name]
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = _integer_range(connection, field)
            if (low is not None and value < low) or (high is not None and value > high):
                raise _OutOfRange
        return field.get_db_prep_value(value, connection, prepared=False)

    def _compile(
        self,
        connection: BaseDatabaseWrapper,
        shape: Hashable,
        lengths: tuple[int | None, ...],
        using: str,
    ) -> _Compiled:
        stand_ins: dict[str, Any] = {}
        slots: dict[Any, _Slot] = {}
        made = itertools.count()
        for (name, field), length in zip(self.fields.items(), lengths, strict=True):
            if length == _ABSENT:
                stand_ins[name] = None
                continue
            indexes: list[int | None] = [None] if length is None else list(range(length))
            items = [_stand_in(connection, field, next(made)) for _ in indexes]
            stand_ins[name] = items[0] if length is None else items
            for index, item in zip(indexes, items, strict=True):
                slots[field.get_db_prep_value(item, connection, prepared=False)] = _Slot(
                    name, index
                )
        queryset = self.build(shape, **stand_ins)
        compiler = queryset.query.get_compiler(using=using)
        try:
            sql, sent = compiler.as_sql()
        except EmptyResultSet:
            return _NOTHING
        params = [slots.get(param, param) if _hashable(param) else param for param in sent]
        # A value the SQL does not use (staff see every row, whoever they are) is fine; one
        # written into the SQL, or sent changed (`__icontains` sends "%value%"), would make
        # every call read the stand-in's rows.
        texts = [sql, *(str(param) for param in sent)]
        misused = sorted(
            {
                slot.name
                for value, slot in slots.items()
                if slot not in params and any(str(value) in text for text in texts)
            }
        )
        if misused:
            raise ShapeError(f"{misused} not sent as parameters of their own")
        columns = compiler.select[: compiler.col_count]
        aliases = [alias for _expression, _sql, alias in columns]
        return _Compiled(
            sql=sql,
            params=params,
            converters=compiler.get_converters([expression for expression, _s, _a in columns]),
            order=[aliases.index(name) for name in queryset._fields],  # type: ignore[attr-defined]
        )


# A value left out (None): no stand-in, and `build` sees None.
_ABSENT = -1


def _length(value: Any) -> int | None:
    if value is None:
        return _ABSENT
    return len(value) if isinstance(value, list | tuple) else None


def _convert(
    row: Sequence[Any],
    converters: dict[int, tuple[list[Converter], Any]],
    connection: BaseDatabaseWrapper,
) -> list[Any]:
    converted = list(row)
    for position, (functions, expression) in converters.items():
        value = converted[position]
        for function in functions:
            value = function(value, expression, connection)
        converted[position] = value
    return converted


def _integer_range(
    connection: BaseDatabaseWrapper, field: models.Field[Any, Any]
) -> tuple[int | None, int | None]:
    field = field.target_field if isinstance(field, models.ForeignKey) else field
    if not isinstance(field, models.IntegerField | models.AutoField):
        return None, None
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    return low, high


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _stand_in(connection: BaseDatabaseWrapper, field: models.Field[Any, Any], n: int) -> Any:
    """A value of the field's kind that no real request sends (an integer within the
    column's range: the ORM leaves a comparison with one beyond it out of the SQL)."""
    field = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(field, models.UUIDField):
        return uuid.UUID(int=0x5EED_0000_0000_0000_0000_0000_0000 + n)
    if isinstance(field, models.DateTimeField):
        return datetime.datetime(1901, 2, 3, 4, 5, 6, n + 1, tzinfo=datetime.UTC)
    if isinstance(field, models.IntegerField | models.AutoField):
        high = _integer_range(connection, field)[1]
        assert high is not None
        return high - 1000 - n
    if isinstance(field, models.CharField | models.TextField):
        return f"\u2063stand-in {n}"
    raise TypeError(f"no stand-in for {type(field).__name__}")


# --- Cards ------------------------------------------------------------------------------


@functools.cache
def _card_fields() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from generations.models import Generation, ResultImage

    own = tuple(f.attname for f in Generation._meta.concrete_fields if f.name != "prompt_search")
    theirs = tuple(f.attname for f in ResultImage._meta.concrete_fields if f.name != "source")
    return own, theirs


def card_columns(annotations: Iterable[str], *, owner_name: bool = False) -> list[str]:
    """The columns of `cards_from_rows`, for a `values_list` of generations (one query, a
    LEFT JOIN, instead of select_related and prefetch_related's two): their own, their
    annotations, their results' (one row per result), their API task's and, with
    `owner_name`, their owner's username."""
    own, theirs = _card_fields()
    return [
        *own,
        *annotations,
        *(f"results__{name}" for name in theirs),
        "api_task__pk",
        "api_task__key_name",
        *(["owner__username"] if owner_name else []),
    ]


def cards_from_rows(
    annotations: Sequence[str], rows: Iterable[Row], *, owner: User | None = None
) -> list[Generation]:
    """Generations from rows of `card_columns`, in the order they first appear, with their
    results, API task and annotations as prefetch_related and select_related would give
    them; their owner is `owner` (one member's rows), or built from the row's username.
    The prompt's search vector and the results' upstream links are left out."""
    from generations.models import ApiTask, Generation, ResultImage

    db = router.db_for_read(Generation)
    own, theirs = _card_fields()
    generations: dict[uuid.UUID, Generation] = {}
    results: dict[uuid.UUID, list[ResultImage]] = {}
    end_of_results = len(own) + len(annotations) + len(theirs)
    with_owner_name = end_of_results + 3  # the API task's two columns, then the name
    for row in rows:
        pk = row[0]
        if pk not in generations:
            generation = Generation.from_db(db, own, row[: len(own)])
            for name, value in zip(annotations, row[len(own) :], strict=False):
                setattr(generation, name, value)
            task_pk, key_name = row[end_of_results : end_of_results + 2]
            task = (
                None
                if task_pk is None
                else ApiTask.from_db(db, ["generation_id", "key_name"], [task_pk, key_name])
            )
            Generation.api_task.related.set_cached_value(generation, task)
            if owner is None and len(row) == with_owner_name:
                owner_of_row: Any = get_user_model().from_db(
                    db, ["id", "username"], [generation.owner_id, row[-1]]
                )
                Generation.owner.field.set_cached_value(generation, owner_of_row)
            elif owner is not None:
                Generation.owner.field.set_cached_value(generation, owner)
            generations[pk] = generation
            results[pk] = []
        result = row[len(own) + len(annotations) : end_of_results]
        if result[0] is not None:
            results[pk].append(ResultImage.from_db(db, theirs, result))
    for pk, generation in generations.items():
        for image in results[pk]:
            ResultImage.generation.field.set_cached_value(image, generation)
        # Kept where and as prefetch_related keeps what it read (prefetch_one_level).
        cached: Any = generation.results.all()
        cached._result_cache = sorted(results[pk], key=lambda r: r.position)
        cached._prefetch_done = True
        vars(generation)["_prefetched_objects_cache"] = {"results": cached}
    return list(generations.values())
