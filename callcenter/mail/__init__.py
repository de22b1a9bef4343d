"""E-mail: settings, address checks, the outbox and its SMTP sender, message templates."""
