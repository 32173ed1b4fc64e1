# PostgreSQL 15 for the cloud's tests and benchmark. Installed only: nothing is started here — the
# tests start their own server (initdb as the postgres user into a temp dir, pg_ctl on a free port).
step "postgresql (cloud tests)"
apt_install postgresql-15 postgresql-client-15
# Debian's package starts a cluster on port 5432 through its service when systemd runs; the tests do
# not use it. Where there is no systemd (containers) nothing is running, which is what we want.
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
    echo "PostgreSQL 15 binaries missing under /usr/lib/postgresql/15/bin" >&2
    return 1
fi
