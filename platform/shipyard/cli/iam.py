"""``shipyard tokens|users|projects|api-keys ...``: identity and access."""

from __future__ import annotations

import click

from shipyard.cli.connection import client_from
from shipyard.cli.output import echo_json, echo_listing

__all__ = ["api_keys", "projects", "tokens", "users"]


@click.group()
def tokens() -> None:
    """Your access keys, to sign requests with (AWS Signature Version 4)."""


@tokens.command("create")
@click.option("--expires-in", type=click.IntRange(min=60), help="Seconds until it expires.")
@click.option("--description", default="", help="What the key is for.")
@click.option("--json", "as_json", is_flag=True,
              help="Print access_key_id, secret_access_key, region and service as JSON.")
@click.pass_context
def create_token(ctx: click.Context, expires_in: int | None, description: str,
                 as_json: bool) -> None:
    """Create an access key; its secret is shown this once."""
    new = client_from(ctx).iam.create_token(expires_in=expires_in, description=description)
    if as_json:
        echo_json({k: new[k] for k in ("access_key_id", "secret_access_key", "region",
                                       "service", "expires_at")})
        return
    click.echo(f"Access key id:     {new['access_key_id']}")
    click.echo(f"Secret access key: {new['secret_access_key']}")
    click.echo(f"Region / service:  {new['region']} / {new['service']}")
    click.echo("The secret is shown only now: keep it somewhere safe.")


@tokens.command("list")
@click.option("--all", "everyone", is_flag=True, help="Every user's keys (administrators).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_tokens(ctx: click.Context, everyone: bool, as_json: bool) -> None:
    """List access keys (never their secrets)."""
    found = client_from(ctx).iam.list_tokens(everyone=everyone)
    echo_listing(found, ("access_key_id", "owner", "description", "created_at",
                           "expires_at", "revoked_at"), as_json)


@tokens.command("revoke")
@click.argument("access_key_id")
@click.pass_context
def revoke_token(ctx: click.Context, access_key_id: str) -> None:
    """Revoke an access key at once."""
    client_from(ctx).iam.revoke_token(access_key_id)
    click.echo(f"Revoked {access_key_id}.")


@click.group()
def users() -> None:
    """Users (administrators only, but for your own password)."""


@users.command("create")
@click.argument("name")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an administrator.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def create_user(ctx: click.Context, name: str, is_admin: bool, as_json: bool) -> None:
    """Create a user with a project of their name and a first access key."""
    new = client_from(ctx).iam.create_user(name, is_admin=is_admin)
    if as_json:
        echo_json(new)
        return
    click.echo(f"Created user {new['user']['name']}.")
    click.echo(f"Access key id:     {new['access_key_id']}")
    click.echo(f"Secret access key: {new['secret_access_key']}")


@users.command("set-password")
@click.argument("name", required=False)
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from standard input (its first line).")
@click.pass_context
def set_password(ctx: click.Context, name: str | None, password_stdin: bool) -> None:
    """Set the password a user signs in to the console with (yours without NAME;
    an administrator may set anyone's)."""
    client = client_from(ctx)
    who = client.iam.whoami()
    name = name or who["name"]
    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
        current = None
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        current = None
        if name == who["name"] and not who["is_admin"]:
            current = click.prompt("Current password (empty if none)", hide_input=True,
                                   default="", show_default=False) or None
    client.iam.set_password(name, password, current=current)
    click.echo(f"Password set for {name}: sign in at the console with it.")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_users(ctx: click.Context, as_json: bool) -> None:
    found = client_from(ctx).iam.list_users()
    echo_listing(found, ("name", "id", "is_admin", "created_at"), as_json)


@click.group()
def projects() -> None:
    """Projects and their collaborators."""


@projects.command("create")
@click.argument("name")
@click.pass_context
def create_project(ctx: click.Context, name: str) -> None:
    project = client_from(ctx).iam.create_project(name)
    click.echo(f"Created project {project['name']} ({project['id']}).")


@projects.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_projects(ctx: click.Context, as_json: bool) -> None:
    found = client_from(ctx).iam.list_projects()
    echo_listing(found, ("name", "id", "members"), as_json)


@projects.command("add-member")
@click.argument("project")
@click.argument("user")
@click.pass_context
def add_member(ctx: click.Context, project: str, user: str) -> None:
    """Make USER a collaborator of PROJECT."""
    found = client_from(ctx).iam.add_member(project, user)
    click.echo(f"{found['name']}: {', '.join(found['members'])}")


@projects.command("remove-member")
@click.argument("project")
@click.argument("user")
@click.pass_context
def remove_member(ctx: click.Context, project: str, user: str) -> None:
    found = client_from(ctx).iam.remove_member(project, user)
    click.echo(f"{found['name']}: {', '.join(found['members']) or '(no members)'}")


@click.group("api-keys")
def api_keys() -> None:
    """A service's API keys (sent in the X-Api-Key header)."""


@api_keys.command("create")
@click.argument("service")
@click.option("--name", default="", help="Who or what the key is for.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def create_api_key(ctx: click.Context, service: str, name: str, as_json: bool) -> None:
    """Create an API key for SERVICE; the key is shown this once."""
    new = client_from(ctx).iam.create_api_key(service, name)
    if as_json:
        echo_json(new)
    else:
        click.echo(f"API key {new['id']}: {new['api_key']}")


@api_keys.command("list")
@click.argument("service")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_api_keys(ctx: click.Context, service: str, as_json: bool) -> None:
    found = client_from(ctx).iam.list_api_keys(service)
    echo_listing(found, ("id", "name", "hint", "created_at", "revoked_at"), as_json)


@api_keys.command("revoke")
@click.argument("service")
@click.argument("key_id")
@click.pass_context
def revoke_api_key(ctx: click.Context, service: str, key_id: str) -> None:
    client_from(ctx).iam.revoke_api_key(service, key_id)
    click.echo(f"Revoked {key_id}.")
