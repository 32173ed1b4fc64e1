"""Domain services: accounts, devices, plans, ingest, timeline, retention. No web framework here."""
