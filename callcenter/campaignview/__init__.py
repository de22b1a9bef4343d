"""The campaign page (static assets, no build step): campaigns listed and created from a saved report, started /
paused / resumed / stopped, their live figures, outcomes, agents and dial list. Served at /campaigns for campaign
managers (supervisors: read, pause and stop; admins: everything); everything on it comes from the campaign API with
the viewer's token (docs/dialer.md "Campaign page")."""

from pathlib import Path

STATIC = Path(__file__).with_name("static")
