"""Who is calling, and what each access level lets them do.

A ``Caller`` is what authentication produces: a user (perhaps an administrator), the
instances of a service calling with the credentials their runner gave them, the holder
of one service's API key, or nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ACCESS_LEVELS",
    "ANONYMOUS",
    "Caller",
    "may_collaborate",
    "may_invoke",
]

ACCESS_LEVELS = ("public", "instance", "project")


@dataclass(frozen=True)
class Caller:
    """``kind`` is ``user``, ``service``, ``api_key`` or ``anonymous``; ``id`` is the user,
    service or API key id; ``projects`` are the projects the caller acts in (a user's
    memberships, a service's own project); ``service_id`` is the one service an API key
    opens; ``batch_job`` the batch job whose access key signed (a user's or service's key
    made for the job's calls)."""

    kind: str
    id: str = ""
    name: str = ""
    is_admin: bool = False
    projects: frozenset[str] = field(default_factory=frozenset)
    service_id: str | None = None
    batch_job: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def label(self) -> str:
        """How the caller appears in logs: never a secret."""
        if self.kind == "user":
            return f"user:{self.name}"
        if self.kind == "service":
            return f"service:{self.name}"
        if self.kind == "api_key":
            return f"api-key:{self.id}"
        return "-"


ANONYMOUS = Caller(kind="anonymous")


def may_invoke(caller: Caller, service_id: str, access_level: str, project_id: str | None) -> bool:
    """Whether ``caller`` may call the service through the gateway."""
    if access_level == "public":
        return True
    if caller.kind == "api_key":
        return caller.service_id == service_id
    if not caller.authenticated:
        return False
    if caller.is_admin or access_level == "instance":
        return True
    return project_id is not None and project_id in caller.projects


def may_collaborate(caller: Caller, project_id: str | None) -> bool:
    """Whether ``caller`` may edit, deploy and read the logs of a project's service: its
    collaborators and administrators only, never a service or an API key."""
    if caller.kind != "user":
        return False
    return caller.is_admin or (project_id is not None and project_id in caller.projects)
