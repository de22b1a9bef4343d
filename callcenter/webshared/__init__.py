"""Static code the pages share (no build step), served at /shared/static: ``signin.js``, the one-time login-code
sign-in every page uses (docs/architecture.md "Pages and signing in")."""

from pathlib import Path

STATIC = Path(__file__).with_name("static")
