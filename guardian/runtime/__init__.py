"""The shared agent runtime: typed config, redacting JSON logs, metrics, systemd notify, service runner."""
