"""What every Guardian program shares: the agent runtime and the wire contracts.

Nothing here may import ``agents`` or ``cloud``: both depend on this package, never the other way.
"""
