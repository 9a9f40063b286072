"""The runbook's three workflow patterns as example apps (financial, customer service, content)."""
