"""The Guardian cloud control plane: accounts, tenants, relays, event inventory, tokens (FastAPI)."""
