#!/bin/sh
# Run every benchmark (SQLite, then PostgreSQL where it applies) and keep each output in bench/results/.
# Usage: bench/run_all.sh [postgresql-url]     (run from the repository root)
set -u
PG=${1:-postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench}
PY=.venv/bin/python
mkdir -p bench/results
status=0
quiet() {  # wait (at most 1 minute) until the machine is nearly idle: other work skews the figures
    i=0
    while [ $i -lt 12 ] && awk '{exit !($1 > 0.6)}' /proc/loadavg; do sleep 5; i=$((i + 1)); done
}
run() {  # name, output file, arguments...
    name=$1; out=$2; shift 2
    quiet
    echo "== $name $*"
    if $PY bench/$name.py "$@" > "bench/results/$out.txt" 2>&1; then
        grep '^RESULT' "bench/results/$out.txt"
    else
        status=1; echo "FAILED, see bench/results/$out.txt"; tail -5 "bench/results/$out.txt"
    fi
}
run records_create records_create_sqlite
run rest_create rest_create_sqlite
run list_query list_query_sqlite
run add_field add_field_sqlite
run http_create http_create_sqlite
run request_costs request_costs_sqlite
run import_csv import_csv_sqlite
run report_group report_group_sqlite --rows 100000
run records_create records_create_postgresql --database-url "$PG"
run rest_create rest_create_postgresql --database-url "$PG" --count 5000
run list_query list_query_postgresql --database-url "$PG"
run add_field add_field_postgresql --database-url "$PG"
run request_costs request_costs_postgresql --database-url "$PG"
run import_csv import_csv_postgresql --database-url "$PG"
run report_group report_group_postgresql --database-url "$PG"
exit $status
