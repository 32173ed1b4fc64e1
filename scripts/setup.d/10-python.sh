# The project itself, editable, with every role's extra.
step "python packages (edge, relay, cloud, dev)"
pip_install -e "$ROOT[edge,relay,cloud,dev]"
