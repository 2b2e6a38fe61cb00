"""``leveret ctl``: rabbitmqctl's user, vhost and permission commands for a running broker,
over the control socket in its data directory (see docs/ctl.md)."""
