"""Pipeline stages that hand off through files: extract -> mask -> publish; restore."""
