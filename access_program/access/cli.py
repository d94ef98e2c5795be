"""`flask access decide` — the tool's question, asked from a shell."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from access_program.access.schemas import DecisionSchema
from access_program.access.service import decide_access

access_cli = AppGroup("access", help="Access decisions.")


@access_cli.command("decide")
@click.argument("artist_id", type=int)
def decide(artist_id: int) -> None:
    """Print the access decision for an artist as JSON."""
    click.echo(json.dumps(DecisionSchema().dump(decide_access(artist_id=artist_id)), indent=2))
