# PostgreSQL session the end-to-end checks run inside a container of the image under test,
# as the image's configured user, with sh -c. Each fact is printed as "@@key=value" on one line
# (newlines in values become " | "), and the Go checks assert on them.
#   E2E_EXTENSIONS=1   also create and use pgvector and pgaudit
#   E2E_PRELOAD=LIST   shared_preload_libraries for the server
#   E2E_POSTGIS=1      create PostGIS and compute a distance
#   E2E_PARTMAN=1      create pg_partman and a partitioned parent
#   E2E_BARMAN=1       run barman-cloud-backup --version
say() { printf '@@%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n' '\036' | sed 's/\x1e/ | /g')"; }
q() { psql -h /tmp -U postgres -d postgres -X -A -t -v ON_ERROR_STOP=1 -c "$1" 2>&1; }

say uid "$(id -u)"
say user "$(id -un 2>&1)"
say postgres_passwd "$(getent passwd postgres)"
say gid "$(id -g)"
say path "$PATH"
say arch "$(uname -m)"
say locale_count "$(locale -a 2>/dev/null | wc -l)"
say locale_de "$(locale -a 2>/dev/null | grep -x -c 'de_DE.utf8')"

PGDATA=/tmp/pgdata
if initdb -D "$PGDATA" -U postgres -A trust -E UTF8 >/tmp/initdb.log 2>&1; then
	say initdb ok
else
	say initdb "failed: $(tail -n 20 /tmp/initdb.log)"
	exit 0
fi

opts="-c listen_addresses='' -c unix_socket_directories=/tmp"
[ -n "${E2E_PRELOAD:-}" ] && opts="$opts -c shared_preload_libraries=$E2E_PRELOAD"
if pg_ctl -D "$PGDATA" -l /tmp/postgres.log -w -t 300 -o "$opts" start >/tmp/pg_ctl.log 2>&1; then
	say start ok
else
	say start "failed: $(tail -n 20 /tmp/postgres.log /tmp/pg_ctl.log)"
	exit 0
fi

say version "$(q 'select version()')"
say server_version_num "$(q 'show server_version_num')"
say preload "$(q 'show shared_preload_libraries')"
say query "$(q 'select sum(g) from generate_series(1, 1000) g')"

if [ "${E2E_EXTENSIONS:-}" = 1 ]; then
	say vector_create "$(q 'create extension vector')"
	say vector_query "$(q "select '[1,2,3]'::vector <-> '[4,5,6]'")"
	say pgaudit_create "$(q 'create extension pgaudit')"
	say pgaudit_setting "$(q "select setting from pg_settings where name = 'pgaudit.log'")"
	say failover_settings "$(q "select count(*) from pg_settings where name like 'pg_failover_slots.%'")"
	say extensions "$(q "select string_agg(extname, ',' order by extname) from pg_extension")"
fi

if [ "${E2E_POSTGIS:-}" = 1 ]; then
	say postgis_create "$(q 'create extension postgis')"
	say postgis_query "$(q "select ST_Distance('POINT(0 0)'::geometry, 'POINT(3 4)'::geometry)")"
fi
if [ "${E2E_PARTMAN:-}" = 1 ]; then
	q 'create schema partman' >/dev/null
	say partman_create "$(q 'create extension pg_partman schema partman')"
	q 'create table public.events (id int, at timestamptz not null) partition by range (at)' >/dev/null
	say partman_parent "$(q "select partman.create_parent('public.events', 'at', '1 day')")"
	say partman_children "$(q "select count(*) > 0 from pg_inherits where inhparent = 'public.events'::regclass")"
fi
if [ "${E2E_BARMAN:-}" = 1 ]; then
	say barman "$(barman-cloud-backup --version 2>&1)"
fi

if pg_ctl -D "$PGDATA" -w -t 120 -m fast stop >/tmp/pg_ctl.log 2>&1; then
	say stop ok
else
	say stop "failed (exit $?): $(tail -n 20 /tmp/postgres.log /tmp/pg_ctl.log)"
fi
say done 1
