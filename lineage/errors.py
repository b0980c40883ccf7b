"""Errors a person can act on. The API maps them to 4xx; the CLI (``service.cli.common``) to exit code 1 for
a refusal (``Conflict``, ``PermissionDenied``) and 2 for bad input (the rest, and ``CredentialRejected``)."""

from __future__ import annotations

__all__ = ["Conflict", "CredentialRejected", "InvalidInput", "LabelgateError", "NotFound", "PermissionDenied"]


class LabelgateError(Exception):
    """Base class: ``message`` for people, ``field`` (a dotted path, a file or ``file:line``) when known."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(LabelgateError):
    status_code = 422


class NotFound(LabelgateError):
    status_code = 404


class Conflict(LabelgateError):
    """The request is valid but the record's state refuses it (a released version, a duplicate name)."""

    status_code = 409


class PermissionDenied(LabelgateError):
    status_code = 403


class CredentialRejected(PermissionDenied):
    """The caller's own credential (a signing secret re-entered to sign) is wrong or not set: a retry with
    the right one may pass. The API answers 403 like any refusal; the CLI treats it as bad input (exit 2)."""
