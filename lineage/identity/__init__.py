"""Who may act: users, projects and memberships (``users``), API tokens (``tokens``), signing secrets and
enrolment codes (``signing``)."""

from lineage.identity.signing import (
    ENROLMENT_VALIDITY,
    MIN_SECRET_LENGTH,
    check_signing_secret,
    issue_signing_enrolment,
    set_signing_secret,
)
from lineage.identity.tokens import (
    MAX_TOKEN_DEPTH,
    IssuedToken,
    authenticate_token,
    hash_token,
    issue_token,
    list_tokens,
    revoke_token,
)
from lineage.identity.users import (
    add_member,
    create_project,
    create_user,
    get_user_by_name,
    list_members,
    list_users,
    memberships_of,
    project_roles,
    visible_projects,
)

__all__ = [
    "ENROLMENT_VALIDITY",
    "MAX_TOKEN_DEPTH",
    "MIN_SECRET_LENGTH",
    "IssuedToken",
    "add_member",
    "authenticate_token",
    "check_signing_secret",
    "create_project",
    "create_user",
    "get_user_by_name",
    "hash_token",
    "issue_signing_enrolment",
    "issue_token",
    "list_members",
    "list_tokens",
    "list_users",
    "memberships_of",
    "project_roles",
    "revoke_token",
    "set_signing_secret",
    "visible_projects",
]
