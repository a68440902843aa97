"""Users and projects: who exists, and who collaborates on which project.

A service belongs to one project; the project's members are its collaborators. Every
user gets a project of their own name when created, where their services go unless they
name another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.domain.validation import validate_service_name
from shipyard.errors import Conflict, Forbidden, InvalidInput, NotFound
from shipyard.iam.principals import Caller
from shipyard.store import ProjectMemberRow, ProjectRow, ServiceRow, Store, UserRow

__all__ = ["Directory", "Project", "User", "caller_for_service", "caller_for_user", "find_project",
           "find_user"]


@dataclass(frozen=True)
class User:
    id: str
    name: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(row.id, row.name, row.is_admin, row.created_at)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "is_admin": self.is_admin,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    members: tuple[str, ...]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "members": list(self.members),
                "created_at": self.created_at.isoformat()}


class Directory:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- users ---------------------------------------------------------------------------

    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        """A new user, and a project of the same name with them as its member."""
        _check_name(name, "user")
        now = datetime.now(UTC)
        try:
            with self.store.writing() as session:
                row = UserRow(id=_new_id("usr_"), name=name, is_admin=is_admin, created_at=now)
                session.add(row)
                session.flush()
                if session.scalar(select(ProjectRow.id).where(ProjectRow.name == name)) is None:
                    project = ProjectRow(id=_new_id("prj_"), name=name, created_at=now)
                    session.add(project)
                    session.flush()
                    session.add(ProjectMemberRow(project_id=project.id, user_id=row.id))
                return User.from_row(row)
        except IntegrityError as exc:
            raise Conflict(f"a user named {name!r} already exists") from exc

    def list_users(self) -> list[User]:
        with self.store.reading() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.name))
            return [User.from_row(row) for row in rows]

    def get_user(self, ref: str) -> User:
        with self.store.reading() as session:
            return User.from_row(find_user(session, ref))

    def count_users(self) -> int:
        with self.store.reading() as session:
            return int(session.scalar(select(func.count()).select_from(UserRow)) or 0)

    def caller(self, user_id: str) -> Caller:
        with self.store.reading() as session:
            return caller_for_user(session, find_user(session, user_id))

    # -- projects ------------------------------------------------------------------------

    def create_project(self, name: str, creator: Caller) -> Project:
        """A new project with ``creator`` as its first member."""
        _require_user(creator)
        _check_name(name, "project")
        try:
            with self.store.writing() as session:
                row = ProjectRow(id=_new_id("prj_"), name=name, created_at=datetime.now(UTC))
                session.add(row)
                session.flush()
                session.add(ProjectMemberRow(project_id=row.id, user_id=creator.id))
                session.flush()
                return _project(session, row)
        except IntegrityError as exc:
            raise Conflict(f"a project named {name!r} already exists") from exc

    def list_projects(self, caller: Caller) -> list[Project]:
        """The projects ``caller`` is a member of; every project for an administrator."""
        with self.store.reading() as session:
            query = select(ProjectRow).order_by(ProjectRow.name)
            if not caller.is_admin:
                query = query.where(ProjectRow.id.in_(caller.projects))
            return [_project(session, row) for row in session.scalars(query)]

    def get_project(self, ref: str) -> Project:
        with self.store.reading() as session:
            return _project(session, find_project(session, ref))

    def add_member(self, project_ref: str, user_ref: str, by: Caller) -> Project:
        with self.store.writing() as session:
            project = find_project(session, project_ref)
            _require_member(by, project)
            user = find_user(session, user_ref)
            if session.get(ProjectMemberRow, (project.id, user.id)) is None:
                session.add(ProjectMemberRow(project_id=project.id, user_id=user.id))
                session.flush()
            return _project(session, project)

    def remove_member(self, project_ref: str, user_ref: str, by: Caller) -> Project:
        with self.store.writing() as session:
            project = find_project(session, project_ref)
            _require_member(by, project)
            user = find_user(session, user_ref)
            session.execute(delete(ProjectMemberRow).where(
                ProjectMemberRow.project_id == project.id, ProjectMemberRow.user_id == user.id
            ))
            return _project(session, project)

    def project_for_new_service(self, caller: Caller, ref: str | None) -> str:
        """The project a service ``caller`` creates goes into: the one named, which they
        must be a member of, else their own."""
        _require_user(caller)
        with self.store.reading() as session:
            if ref:
                project = find_project(session, ref)
                _require_member(caller, project)
                return project.id
            user = find_user(session, caller.id)
            own = session.scalar(select(ProjectRow).where(ProjectRow.name == user.name))
            if own is not None and (caller.is_admin or own.id in caller.projects):
                return own.id
            if caller.projects:
                return sorted(caller.projects)[0]
        raise InvalidInput("name the project the service belongs to: you are a member of none")


def caller_for_user(session: Session, user: UserRow) -> Caller:
    projects = frozenset(session.scalars(
        select(ProjectMemberRow.project_id).where(ProjectMemberRow.user_id == user.id)
    ))
    return Caller(kind="user", id=user.id, name=user.name, is_admin=user.is_admin,
                  projects=projects)


def caller_for_service(service: ServiceRow, batch_job: str | None = None) -> Caller:
    """A service calling as itself: it acts in its own project only."""
    projects = frozenset({service.project_id}) if service.project_id else frozenset()
    return Caller(kind="service", id=service.id, name=service.name, projects=projects,
                  batch_job=batch_job)


def find_user(session: Session, ref: str) -> UserRow:
    row = session.scalar(select(UserRow).where(or_(UserRow.id == ref, UserRow.name == ref)))
    if row is None:
        raise NotFound(f"user {ref!r} does not exist")
    return row


def find_project(session: Session, ref: str) -> ProjectRow:
    row = session.scalar(
        select(ProjectRow).where(or_(ProjectRow.id == ref, ProjectRow.name == ref))
    )
    if row is None:
        raise NotFound(f"project {ref!r} does not exist")
    return row


def _project(session: Session, row: ProjectRow) -> Project:
    members = session.scalars(
        select(UserRow.name).join(ProjectMemberRow, ProjectMemberRow.user_id == UserRow.id)
        .where(ProjectMemberRow.project_id == row.id).order_by(UserRow.name)
    )
    return Project(row.id, row.name, tuple(members), row.created_at)


def _require_user(caller: Caller) -> None:
    if caller.kind != "user":
        raise Forbidden("only a user may do this")


def _require_member(caller: Caller, project: ProjectRow) -> None:
    _require_user(caller)
    if not caller.is_admin and project.id not in caller.projects:
        raise Forbidden(f"you are not a member of project {project.name!r}")


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str):
        raise InvalidInput(f"a {what} name must be a string")
    try:
        validate_service_name(name)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("service name", f"{what} name")) from exc


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:16]
