"""Credentials: tokens minted by tokens never outlive or survive their parents, and a signing secret is never
set with a token alone (a first one needs an admin's one-time enrolment code, a change the current one).
Every step is audited, with no secret, and no hash of one, in any payload."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from lineage import identity
from lineage.audit.rowdigest import row_digest
from lineage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lineage.models import ApiToken, AuditEvent, Role, User
from lineage.models._base import utcnow
from tests.factories import World, actor_for, make_user

SECRET = "correct horse battery"


def _events(session: Session, action: str) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
    return list(session.exec(stmt))


def _all_audit_text(session: Session) -> str:
    rows = session.exec(text("SELECT canonical FROM audit_events ORDER BY seq")).all()  # type: ignore[call-overload]
    return "\n".join(bytes(r[0]).decode() for r in rows)


def _mint(session: Session, parent: identity.IssuedToken, user: User, days: float | None) -> identity.IssuedToken:
    return identity.issue_token(
        session,
        actor=actor_for(user),
        user=user,
        name="child",
        expires_in=timedelta(days=days) if days is not None else None,
        parent=parent.record,
    )


# --- tokens -------------------------------------------------------------------------------------------


def test_an_operator_token_has_no_parent_and_its_issue_records_the_row_digest(session: Session, world: World) -> None:
    user = world.users["reviewer"]
    issued = identity.issue_token(session, actor=None, user=user, name="ci", expires_in=timedelta(days=3))
    assert issued.record.parent_id is None
    event = _events(session, "token.issue")[-1]
    assert event.payload["parent_id"] is None and event.payload["expires_at"] is not None
    [record] = event.payload["records"]
    assert record == {"table": "api_tokens", "id": issued.record.id, "digest": row_digest("api_tokens", issued.record)}
    session.commit()
    stored = session.get(ApiToken, issued.record.id)
    assert row_digest("api_tokens", stored) == record["digest"]  # the digest survives the round trip


@pytest.mark.parametrize(
    ("days", "allowed"),
    [(0.5, True), (0.999, True), (1.0001, False), (30.0, False), (None, False)],
    ids=["half", "just-inside", "just-outside", "much-longer", "never-expiring"],
)
def test_a_minted_token_may_not_outlive_its_parent(
    session: Session, world: World, days: float | None, allowed: bool
) -> None:
    user = world.users["reviewer"]
    parent = identity.issue_token(session, actor=None, user=user, name="p", expires_in=timedelta(days=1))
    if not allowed:
        with pytest.raises(InvalidInput) as exc:
            _mint(session, parent, user, days)
        assert exc.value.field == "expires_in_days"
        assert "may not outlive" in exc.value.message
        # the parent's remaining days, read when the child is minted: 1.0000, or a hair less on a slow machine
        assert re.search(r"at most (1\.0000|0\.99\d\d)", exc.value.message), exc.value.message
        return
    child = _mint(session, parent, user, days)
    assert child.record.parent_id == parent.record.id
    assert parent.record.expires_at is not None and child.record.expires_at is not None
    assert child.record.expires_at <= parent.record.expires_at
    assert _events(session, "token.issue")[-1].payload["parent_id"] == parent.record.id


def test_a_never_expiring_parent_may_mint_a_never_expiring_child(session: Session, world: World) -> None:
    user = world.users["reviewer"]
    parent = identity.issue_token(session, actor=None, user=user, name="p")
    assert _mint(session, parent, user, None).record.expires_at is None


def test_the_limit_is_the_earliest_ancestor_expiry(session: Session, world: World) -> None:
    """A row written before the rule (a child without expiry under an expiring parent) cannot launder it."""
    user = world.users["reviewer"]
    root = identity.issue_token(session, actor=None, user=user, name="root", expires_in=timedelta(days=1))
    legacy = ApiToken(
        user_id=user.id or 0, name="legacy", prefix="legacy00", token_hash="0" * 64, parent_id=root.record.id
    )
    session.add(legacy)
    session.flush()
    with pytest.raises(InvalidInput, match="may not outlive"):
        identity.issue_token(session, actor=None, user=user, name="x", expires_in=None, parent=legacy)


def test_only_an_admin_token_mints_for_another_user(session: Session, world: World) -> None:
    reviewer, annotator, admin = world.users["reviewer"], world.users["annotator"], world.admin
    own = identity.issue_token(session, actor=None, user=reviewer, name="p")
    with pytest.raises(PermissionDenied) as exc:
        _mint(session, own, annotator, None)
    assert exc.value.field == "user_id"
    admins = identity.issue_token(session, actor=None, user=admin, name="p")
    child = identity.issue_token(session, actor=actor_for(admin), user=annotator, name="c", parent=admins.record)
    assert child.record.user_id == annotator.id and child.record.parent_id == admins.record.id


def test_a_revoked_or_expired_token_cannot_mint(session: Session, world: World) -> None:
    user = world.users["reviewer"]
    parent = identity.issue_token(session, actor=None, user=user, name="p")
    identity.revoke_token(session, actor=actor_for(world.admin), token_id=parent.record.id or 0)
    with pytest.raises(PermissionDenied, match="revoked or expired"):
        _mint(session, parent, user, 0.1)


def test_minting_depth_is_bounded(session: Session, world: World) -> None:
    user = world.users["reviewer"]
    token = identity.issue_token(session, actor=None, user=user, name="0")
    for _ in range(identity.MAX_TOKEN_DEPTH - 1):
        token = _mint(session, token, user, None)
    with pytest.raises(Conflict, match=f"at most {identity.MAX_TOKEN_DEPTH} deep"):
        _mint(session, token, user, None)


def test_revoking_a_token_revokes_its_descendants_each_audited(session: Session, world: World) -> None:
    user, admin = world.users["reviewer"], world.admin
    root = identity.issue_token(session, actor=None, user=user, name="root")
    child = _mint(session, root, user, None)
    grandchild = _mint(session, child, user, None)
    sibling = _mint(session, root, user, 5)
    unrelated = identity.issue_token(session, actor=None, user=user, name="other")
    session.commit()
    before = len(_events(session, "token.revoke"))

    identity.revoke_token(session, actor=actor_for(admin, request_id="req-revoke"), token_id=root.record.id or 0)
    session.commit()

    for t in (root, child, grandchild, sibling):
        stored = session.get(ApiToken, t.record.id)
        assert stored is not None and stored.revoked_at is not None, t.record.name
        with pytest.raises(NotFound, match="token revoked"):
            identity.authenticate_token(session, t.token)
    assert identity.authenticate_token(session, unrelated.token)[1].id == unrelated.record.id
    events = _events(session, "token.revoke")[before:]
    assert [int(e.object_id) for e in events] == [
        root.record.id,
        child.record.id,
        sibling.record.id,
        grandchild.record.id,
    ]
    assert all(e.request_id == "req-revoke" for e in events)
    assert "cascade_from" not in events[0].payload
    assert all(e.payload["cascade_from"] == root.record.id for e in events[1:])


def test_authentication_refuses_a_token_whose_ancestor_is_revoked_or_expired(session: Session, world: World) -> None:
    """Defence in depth: even a row the cascade missed (revoked by hand, or a legacy child) is refused."""
    user = world.users["reviewer"]
    root = identity.issue_token(session, actor=None, user=user, name="root")
    child = _mint(session, root, user, None)
    session.commit()
    revoke_by_hand = text("UPDATE api_tokens SET revoked_at = :t WHERE id = :i")
    session.exec(revoke_by_hand, params={"t": utcnow(), "i": root.record.id})  # type: ignore[call-overload]
    session.commit()
    session.expire_all()
    with pytest.raises(NotFound, match=f"descends from the revoked token {root.record.prefix}"):
        identity.authenticate_token(session, child.token)

    expiring = identity.issue_token(session, actor=None, user=user, name="e", expires_in=timedelta(hours=1))
    legacy_token = "lg_legacy00_" + "x" * 43
    session.add(
        ApiToken(
            user_id=user.id or 0,
            name="legacy",
            prefix="legacy00",
            token_hash=identity.hash_token(legacy_token),
            parent_id=expiring.record.id,
        )
    )
    session.commit()
    assert identity.authenticate_token(session, legacy_token)[0].id == user.id
    with pytest.raises(NotFound, match="descends from the expired token"):
        identity.authenticate_token(session, legacy_token, now=utcnow() + timedelta(hours=2))


def test_membership_add_records_the_row_digest(session: Session, world: World) -> None:
    user = make_user(session, "newcomer")
    m = identity.add_member(session, actor=actor_for(world.admin), project=world.project, user=user, role=Role.reviewer)
    [record] = _events(session, "project.member.add")[-1].payload["records"]
    assert record == {"table": "memberships", "id": m.id, "digest": row_digest("memberships", m)}


# --- signing secrets -------------------------------------------------------------------------------------


def _officer(session: Session, world: World) -> tuple[User, Any]:
    user = world.users["compliance_officer"]
    return user, actor_for(user, request_id="req-officer")


def _enrol(session: Session, world: World, user: User, **kw: Any) -> str:
    code = identity.issue_signing_enrolment(session, actor=actor_for(world.admin), user=user, **kw)
    session.commit()
    return code


def test_a_token_alone_never_sets_a_first_secret(session: Session, world: World) -> None:
    user, me = _officer(session, world)
    with pytest.raises(PermissionDenied) as exc:
        identity.set_signing_secret(session, actor=me, user=user, secret=SECRET)
    assert exc.value.field == "enrolment_code" and "enrolment code issued by an admin" in exc.value.message
    with pytest.raises(PermissionDenied):  # a "current" secret the user does not have is no proof either
        identity.set_signing_secret(session, actor=me, user=user, secret=SECRET, current="anything at all")
    session.refresh(user)
    assert user.signing_secret_hash is None
    refused = _events(session, "user.signing_enrolment.refused")
    assert len(refused) == 2 and refused[0].request_id == "req-officer"


def test_the_enrolment_code_sets_the_first_secret_once(session: Session, world: World) -> None:
    user, me = _officer(session, world)
    code = _enrol(session, world, user)
    assert code.startswith("lge_") and user.signing_enrolment_hash and code not in user.signing_enrolment_hash

    with pytest.raises(PermissionDenied, match="the enrolment code is wrong"):
        identity.set_signing_secret(session, actor=me, user=user, secret=SECRET, enrolment_code=code + "x")
    with pytest.raises(InvalidInput) as weak:  # a weak secret consumes nothing
        identity.set_signing_secret(session, actor=me, user=user, secret="short", enrolment_code=code)
    assert weak.value.field == "secret" and "at least 8" in weak.value.message
    session.rollback()

    identity.set_signing_secret(session, actor=me, user=user, secret=SECRET, enrolment_code=code)
    session.commit()
    session.refresh(user)
    assert identity.check_signing_secret(user, SECRET)
    assert user.signing_enrolment_hash is None and user.signing_enrolment_expires_at is None
    assert [e.payload["via"] for e in _events(session, "user.signing_enrolment.consume")] == ["enrolment_code"]
    assert _events(session, "user.signing_secret.set")[-1].payload == {"user": user.username, "via": "enrolment_code"}

    # reused: the user now has a secret, so only the current one changes it
    with pytest.raises(PermissionDenied) as reused:
        identity.set_signing_secret(session, actor=me, user=user, secret="another secret", enrolment_code=code)
    assert reused.value.field == "current"
    session.refresh(user)
    assert identity.check_signing_secret(user, SECRET)


def test_an_expired_or_superseded_code_is_refused(session: Session, world: World) -> None:
    user, me = _officer(session, world)
    old = _enrol(session, world, user)
    new = _enrol(session, world, user)  # replaces the pending one
    assert _events(session, "user.signing_enrolment.issue")[-1].payload["replaces"] is True
    with pytest.raises(PermissionDenied, match="wrong"):
        identity.set_signing_secret(session, actor=me, user=user, secret=SECRET, enrolment_code=old)
    session.exec(  # type: ignore[call-overload]
        text("UPDATE users SET signing_enrolment_expires_at = :t WHERE id = :i"),
        params={"t": utcnow() - timedelta(seconds=1), "i": user.id},
    )
    session.commit()
    session.refresh(user)
    with pytest.raises(PermissionDenied, match="expired"):
        identity.set_signing_secret(session, actor=me, user=user, secret=SECRET, enrolment_code=new)
    reasons = [e.payload["reason"] for e in _events(session, "user.signing_enrolment.refused")]
    assert reasons == ["the enrolment code is wrong", "the enrolment code has expired: ask an admin for a new one"]


def test_who_may_issue_an_enrolment_code(session: Session, world: World) -> None:
    user = world.users["compliance_officer"]
    with pytest.raises(PermissionDenied, match="only an admin"):
        identity.issue_signing_enrolment(session, actor=actor_for(world.users["ml_engineer"]), user=user)
    with pytest.raises(Conflict, match="may not issue their own"):
        identity.issue_signing_enrolment(session, actor=actor_for(world.admin), user=world.admin)
    assert identity.issue_signing_enrolment(session, actor=actor_for(world.admin), user=world.admin, operator=True)
    identity.set_signing_secret(session, actor=actor_for(world.admin), user=user, secret=SECRET, operator=True)
    with pytest.raises(Conflict, match="already has a signing secret"):
        identity.issue_signing_enrolment(session, actor=actor_for(world.admin), user=user)
    with pytest.raises(InvalidInput):
        identity.issue_signing_enrolment(
            session, actor=actor_for(world.admin), user=world.users["reviewer"], valid_for=timedelta(0)
        )


def test_changing_a_secret_needs_the_current_one(session: Session, world: World) -> None:
    user, me = _officer(session, world)
    identity.set_signing_secret(session, actor=actor_for(world.admin), user=user, secret=SECRET, operator=True)
    session.commit()
    for current in (None, "wrong secret!"):
        with pytest.raises(PermissionDenied) as exc:
            identity.set_signing_secret(session, actor=me, user=user, secret="new secret 123", current=current)
        assert exc.value.field == "current"
    with pytest.raises(InvalidInput, match="not both"):
        identity.set_signing_secret(
            session, actor=me, user=user, secret="new secret 123", current=SECRET, enrolment_code="lge_x"
        )
    identity.set_signing_secret(session, actor=me, user=user, secret="new secret 123", current=SECRET)
    session.commit()
    session.refresh(user)
    assert identity.check_signing_secret(user, "new secret 123") and not identity.check_signing_secret(user, SECRET)
    assert _events(session, "user.signing_secret.change")[-1].payload == {
        "user": user.username,
        "via": "current_secret",
    }
    assert len(_events(session, "user.signing_secret.refused")) == 2


def test_nobody_else_sets_a_users_secret_except_the_operator(session: Session, world: World) -> None:
    user = world.users["compliance_officer"]
    code = _enrol(session, world, user)
    with pytest.raises(PermissionDenied) as exc:  # not even an admin holding the code
        identity.set_signing_secret(
            session, actor=actor_for(world.admin), user=user, secret=SECRET, enrolment_code=code
        )
    assert exc.value.field == "user_id"
    session.refresh(user)
    assert user.signing_secret_hash is None
    identity.set_signing_secret(session, actor=actor_for(world.admin), user=user, secret=SECRET, operator=True)
    session.commit()
    session.refresh(user)
    assert user.signing_enrolment_hash is None  # the pending code died with the operator's reset
    assert _events(session, "user.signing_secret.set")[-1].payload["via"] == "operator"


def test_no_secret_or_hash_of_one_reaches_the_audit_log(session: Session, world: World) -> None:
    user, me = _officer(session, world)
    token = identity.issue_token(session, actor=None, user=user, name="t", expires_in=timedelta(days=2))
    child = _mint(session, token, user, 1)
    code = _enrol(session, world, user)
    session.refresh(user)
    code_hash = user.signing_enrolment_hash
    identity.set_signing_secret(session, actor=me, user=user, secret=SECRET, enrolment_code=code)
    session.commit()
    session.refresh(user)
    secret_hash = user.signing_secret_hash
    identity.set_signing_secret(session, actor=me, user=user, secret="second secret", current=SECRET)
    with pytest.raises(PermissionDenied):
        identity.set_signing_secret(session, actor=me, user=user, secret="third secret", current="guessed secret")
    identity.revoke_token(session, actor=me, token_id=token.record.id or 0)
    session.commit()
    logged = _all_audit_text(session)
    assert {"token.issue", "token.revoke", "user.signing_enrolment.issue", "user.signing_enrolment.consume"} <= {
        e.action for e in session.exec(select(AuditEvent))
    }
    values = [SECRET, "second secret", "third secret", "guessed secret", code, token.token, child.token]
    values += [identity.hash_token(token.token), identity.hash_token(child.token), str(code_hash), str(secret_hash)]
    values += [h.split("$")[2] for h in (str(code_hash), str(secret_hash))]
    leaked = [v for v in values if v in logged]
    assert leaked == []


def test_one_enrolment_code_sets_one_secret_even_under_a_race(engine: Engine, world: World) -> None:
    officer = world.users["compliance_officer"]
    with Session(engine, expire_on_commit=False) as s:
        user = s.get(User, officer.id)
        assert user is not None
        code = identity.issue_signing_enrolment(s, actor=actor_for(world.admin), user=user)
        s.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(secret: str) -> None:
        barrier.wait()
        with Session(engine, expire_on_commit=False) as s:
            me = s.get(User, officer.id)
            assert me is not None
            try:
                identity.set_signing_secret(s, actor=actor_for(me), user=me, secret=secret, enrolment_code=code)
                s.commit()
                outcomes.append("set")
            except PermissionDenied:
                outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(f"racing secret {i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused", "set"]
