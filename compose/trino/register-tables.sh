#!/bin/sh
# Registers Pulse's Delta tables in Trino's `dal` catalog once `pulse ingest`
# has created them (it creates all five when it starts). Safe to run again.
set -u
until trino --server http://trino:8080 --execute "SELECT 1" > /dev/null 2>&1; do sleep 2; done
trino --server http://trino:8080 --execute \
  "CREATE SCHEMA IF NOT EXISTS dal.pulse WITH (location = 's3://dal/')"
for table in orders orders_dead_letter customer_batches customers industries; do
  until trino --server http://trino:8080 --execute \
      "SELECT 1 FROM dal.pulse.\"$table\" LIMIT 0" > /dev/null 2>&1 \
    || trino --server http://trino:8080 --execute \
      "CALL dal.system.register_table(schema_name => 'pulse', table_name => '$table', table_location => 's3://dal/$table')"; do
    echo "waiting for pulse ingest to create s3://dal/$table"; sleep 5
  done
done
echo "dal.pulse: tables registered"
