"""``mustelid service install|uninstall|status|unit``: keep the daemon running in the background
(a systemd user unit on Linux, a launchd agent on macOS; see ``mustelid.service``)."""

from __future__ import annotations

import click

from mustelid.cli.app import State, json_option, pass_state
from mustelid.cli.output import clean, emit_json

# Hidden: write or print the other platform's file (tests, and installing for another machine).
_platform = click.option("--platform", type=click.Choice(["linux", "macos"]), default=None,
                         hidden=True)


def _describe(platform: str | None):
    from mustelid.service import ServiceError, describe

    try:
        return describe(platform)
    except ServiceError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def service() -> None:
    """Run the daemon in the background, started at login and restarted when it fails."""


@service.command("unit")
@_platform
def unit(platform: str | None) -> None:
    """Print the systemd unit (Linux) or launchd plist (macOS) that `install` writes."""
    click.echo(_describe(platform).text, nl=False)


@service.command("install")
@click.option("--dry-run", is_flag=True, help="Print where the file would go and what it says.")
@_platform
def install(dry_run: bool, platform: str | None) -> None:
    """Write the unit or agent for this user and this MUSTELID_HOME, then enable and start it."""
    from mustelid.service import ServiceError, install as do_install

    svc = _describe(platform)
    if dry_run:
        click.echo(f"# would write {clean(svc.path)}, then: {svc.enable_hint()}")
        click.echo(svc.text, nl=False)
        return
    try:
        for line in do_install(svc):
            click.echo(clean(line))
    except (ServiceError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo("logs: mustelid logs -f   status: mustelid service status")


@service.command("uninstall")
@_platform
def uninstall(platform: str | None) -> None:
    """Stop and disable the service, and remove its file."""
    from mustelid.service import uninstall as do_uninstall

    try:
        for line in do_uninstall(_describe(platform)):
            click.echo(clean(line))
    except OSError as e:
        raise click.ClickException(str(e)) from None


@service.command("status")
@_platform
@json_option
@pass_state
def status(state: State, platform: str | None, as_json: bool) -> None:
    """Is the service file written, and what does the service manager say?"""
    from mustelid.home import daemon_running
    from mustelid.service import status as service_status

    info = service_status(_describe(platform))
    info["daemon"] = "running" if daemon_running(state.config) else "stopped"
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key:>9}: {clean(value)}")
