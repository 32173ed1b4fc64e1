"""Object tracking: stable identities across frames."""
