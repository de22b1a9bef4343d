"""Automation: CRM facts -> small typed rules -> tasks, notifications and signed webhooks."""
