"""Events: one per tracked object, stored in the edge database and queued for the relay."""
