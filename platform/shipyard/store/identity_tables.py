"""The tables of identities: users, projects and their members, access keys, API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, UTCDateTime

__all__ = [
    "AccessKeyRow", "ApiKeyRow", "BrowserSessionRow", "ProjectMemberRow", "ProjectRow",
    "SignInFailureRow", "UserRow",
]


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # An argon2id hash (the whole PHC string: parameters, salt and digest); None until a
    # password is set, and then the user cannot sign in with one.
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ProjectMemberRow(Base):
    """A collaborator of a project: may edit, deploy and read the logs of its services."""

    __tablename__ = "project_members"

    project_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AccessKeyRow(Base):
    """A SigV4 access key. It belongs to a user, or (``service_id``) to the instances of
    one service, which call other services with it. The secret is kept encrypted with
    the server key, because verifying a signature needs the secret itself."""

    __tablename__ = "access_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    service_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The one instance a service's key was made for, revoked when that instance stops.
    instance_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The batch job a user's or service's key was made for, revoked when the job ends.
    batch_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKeyRow(Base):
    """A key that opens one service to whoever holds it. Only its SHA-256 is kept: the
    key is long and random, and checking it needs no more."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(63), nullable=False, default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    hint: Mapped[str] = mapped_column(String(16), nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BrowserSessionRow(Base):
    """A signed-in browser. Only the SHA-256 of the session cookie's token and of the
    session's CSRF token are kept (both are long and random)."""

    __tablename__ = "browser_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    csrf_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class SignInFailureRow(Base):
    """One failed sign-in, counted to slow down password guessing per user and address."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(63), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
