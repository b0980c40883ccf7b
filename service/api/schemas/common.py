"""Request and response bodies. Inputs forbid unknown fields; server-owned fields are never inputs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from lineage.formats.common import AttributesRefused, attributes_json
from lineage.models import Role

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "AuditEventPublic",
    "AuditVerifyPublic",
    "ErrorBody",
    "ErrorDetail",
    "ErrorInfo",
    "FreeJson",
    "Int64",
    "IsoDateTime",
    "MemberCreate",
    "MemberPublic",
    "MembershipPublic",
    "Page",
    "ProjectCreate",
    "ProjectPublic",
    "ProjectRef",
    "RowId",
    "Seed",
    "SignablePublic",
    "SigningEnrolmentCreate",
    "SigningEnrolmentIssued",
    "SigningSecretSet",
    "TokenCreate",
    "TokenIssued",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
]

T = TypeVar("T")

# Integer inputs are bounded before they reach a driver: past a column's range, SQLite raises OverflowError
# and PostgreSQL an out-of-range error, both of which would otherwise surface as a 500.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: An id of a stored row: the range of the INTEGER key columns (32-bit on PostgreSQL). Outside it: 422.
RowId = Annotated[int, Ge(INT32_MIN), Le(INT32_MAX)]
#: A project in a path: its id or its name. ``service.api.deps`` turns a name into the id before the route
#: reads it, so the route sees an id; the spec says both are accepted.
ProjectRef = Annotated[
    RowId,
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "title": "Project",
            "description": "the project's id (digits) or its name, e.g. `street-scenes`",
            "examples": ["street-scenes", 1],
        }
    ),
]
#: Any other integer input: the signed 64-bit range (BIGINT, SQLite INTEGER). Outside it: 422.
Int64 = Annotated[int, Ge(INT64_MIN), Le(INT64_MAX)]
#: A random seed: 0 to 2**32 - 1, the range every numpy generator (``default_rng``, ``RandomState``) takes.
Seed = Annotated[int, Ge(0), Le(2**32 - 1)]


def check_free_json(value: Any) -> Any:
    """``value`` unchanged if it is within the bounds every door puts on a label's attributes
    (``lineage.formats.common.attributes_json``: 64 KiB of JSON, 16 levels, 4 KiB strings); else
    ``ValueError`` naming the bound (pydantic turns it into a 422)."""
    try:
        attributes_json(value)
    except AttributesRefused as exc:
        raise ValueError(str(exc)) from None
    return value


#: A free-form JSON object (label attributes, a schema class's attribute specs) within the attribute bounds.
FreeJson = Annotated[dict[str, Any], AfterValidator(check_free_json)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: Any) -> Any:
    # pydantic reads a number (or a numeric string) as Unix seconds: `until=0.5` would mean 1970.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z")
    return value


def _in_utc_range(value: datetime) -> datetime:
    # 0001-01-01T00:00+01:00 is a valid text whose UTC instant lies before year 1: no driver can store it.
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("date-time out of range (years 1 to 9999, in UTC)") from None
    return value


#: A date-time given as ISO 8601 text (``2024-05-01``, ``2024-05-01T12:00:00Z``); numbers are refused.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_in_utc_range)]


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A body model's examples, shown in the API reference (``/docs``); ``tests/service/test_api_docs.py``
    validates each against the model's schema, so they cannot drift from it."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(OutputModel, Generic[T]):
    """One page of a list. Follow ``next_cursor`` (pass it as ``cursor``) for the next page: a keyset page,
    which costs the same at the millionth row as at the first; ``offset`` still works, reading every row it
    skips. ``total`` is counted on offset pages (no ``cursor``) or when ``with_total=true``."""

    items: list[T]
    total: int | None = Field(
        description="rows in the whole list: counted on offset pages and when `with_total=true`; null on "
        "cursor pages unless asked (a count reads every row)"
    )
    offset: int
    limit: int
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null when this page is the last"
    )


class UserCreate(InputModel):
    model_config = examples({"username": "alice", "full_name": "Alice Martin", "email": "alice@example.org"})

    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")
    full_name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    is_admin: bool = False


class UserPublic(OutputModel):
    id: int
    username: str
    full_name: str
    email: str | None
    is_admin: bool
    is_active: bool
    created_at: datetime


class TokenCreate(InputModel):
    """A token minted with a token may not outlive it: from an expiring token, ``expires_in_days`` is
    required and at most the minting token's remaining lifetime."""

    model_config = examples({"name": "ci-pipeline", "expires_in_days": 90})

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class TokenPublic(OutputModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    parent_id: int | None = Field(description="the token that minted this one; null when an operator issued it")


class TokenIssued(TokenPublic):
    token: str = Field(description="The bearer token. Shown once; only its hash is stored.")


class SigningSecretSet(InputModel):
    """A first secret needs ``enrolment_code`` (from an admin); a change needs ``current``. Secrets travel
    only in this body, never in the URL."""

    model_config = examples(
        {"enrolment_code": "7KQ2-XW9P-M4TD", "secret": "correct horse battery"},
        {"current": "correct horse battery", "secret": "staple lantern orchard"},
    )

    secret: str = Field(min_length=8, max_length=200, description="the new signing secret (8–200 characters)")
    current: str | None = Field(default=None, min_length=1, max_length=200, description="the current secret")
    enrolment_code: str | None = Field(
        default=None, min_length=1, max_length=200, description="the one-time code an admin issued"
    )


class SigningEnrolmentCreate(InputModel):
    model_config = examples({"valid_for_hours": 24})

    valid_for_hours: float = Field(default=24, gt=0, le=24 * 14, description="validity of the code (24 h)")


class SigningEnrolmentIssued(OutputModel):
    user_id: int
    expires_at: datetime
    enrolment_code: str = Field(description="Shown once; only its scrypt hash is stored. Deliver it in person.")


class ProjectCreate(InputModel):
    model_config = examples({"name": "street-scenes", "description": "Dash-cam object detection, city centre"})

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-zA-Z0-9_.-]+$")
    description: str = Field(default="", max_length=2000)


class ProjectPublic(OutputModel):
    id: int
    name: str
    description: str
    created_at: datetime


class MemberCreate(InputModel):
    model_config = examples({"username": "alice", "role": "annotator"})

    username: str = Field(min_length=2, max_length=64)
    role: Role


class MemberPublic(OutputModel):
    user_id: int
    username: str
    role: Role


class MembershipPublic(OutputModel):
    project_id: int
    project_name: str
    role: Role


class AuditEventPublic(OutputModel):
    """One audit event; ``object_name`` and ``project_name`` are display names read from the record when the
    page is served (``street@v2`` for ``dataset_version:3``), not hashed columns: the ids are the evidence."""

    seq: int
    ts: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    object_name: str | None = Field(
        default=None, description="the object's display name (`street@v2`), or `type:id` when it has none"
    )
    project_id: int | None
    project_name: str | None = Field(default=None, description="the project's name, when the event has one")
    request_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerifyPublic(OutputModel):
    ok: bool
    events: int
    head_seq: int | None
    head_hash: str | None
    broken_seq: int | None
    kind: str | None
    reason: str
    # Signed checkpoints (workspace git, release bundles) the chain was compared with.
    checkpoints: int = 0
    latest_checkpoint_seq: int | None = None
    latest_checkpoint_source: str | None = None
    problems: list[str] = []
    # With ``deep``: rows checked per table, each row problem named, and per table the problems not named.
    deep: bool = False
    rows_checked: dict[str, int] = {}
    row_problems: list[str] = []
    row_problems_unlisted: dict[str, int] = {}


class ReleaseVerifyPublic(OutputModel):
    """A release compared with the live record: every bundle field that the record contradicts."""

    version: str
    ok: bool
    checked: list[str]
    differences: list[str]


class SignablePublic(OutputModel):
    """Whether the caller may sign a dataset version now, and if not, why (the reason the signature would
    be refused with). ``meanings``: the same answer for each signature meaning (``null``: may sign)."""

    meaning: str
    can_sign: bool
    reason: str | None
    meanings: dict[str, str | None]


class ErrorDetail(BaseModel):
    """One refused input of a 422: the field as a dotted path (``query.limit``, ``annotations.0.bbox``)."""

    model_config = ConfigDict(extra="forbid")

    field: str
    message: str


class ErrorInfo(BaseModel):
    """What went wrong: the HTTP ``status``, a one-line ``message``, the ``field`` at fault (``null`` when
    none is) and the record's error class in ``type`` (``NotFound``, ``Conflict``, ``InvalidInput``, ...;
    ``null`` or absent for refusals made before any labelgate code ran, such as a 413). A 422 made by
    request validation lists every refused input in ``details``."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=599)
    message: str
    field: str | None
    type: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """The body of every error response (``service.api.app.error_body``); ``request_id`` is also in the
    ``X-Request-ID`` header and in the audit events the request wrote."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "error": {"status": 404, "message": "project not found", "field": "project_id", "type": "NotFound"},
                    "request_id": "4f1c2b7e9d0a4e6b8c3d5f7a9b1c3e5d",
                }
            ]
        },
    )

    error: ErrorInfo
    request_id: str | None
