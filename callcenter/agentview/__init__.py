"""The agent's page (static assets, no build step): the caller's CRM card while the phone rings, quick lead, wrap-up
after the call, my callbacks due, pause / unpause. Served at /agent; its data comes from the API and the agent
WebSocket."""

from pathlib import Path

STATIC = Path(__file__).with_name("static")
