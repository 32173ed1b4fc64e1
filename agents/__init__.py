"""The programs that run on the appliances: ``agents.edge`` (the Mini PC) and ``agents.relay`` (the VM).

Agents import ``guardian`` (runtime, contracts) and never ``cloud``.
"""
