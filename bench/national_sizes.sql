-- Sizes of the generated tables (bench/national_steps.sh runs it after each step).
SELECT (SELECT count(*) FROM issue) AS issues, (SELECT count(*) FROM enterprise) AS enterprises;
SELECT c.relname AS table, c.reltuples::bigint AS rows_est,
       pg_relation_size(c.oid) AS heap_bytes, pg_indexes_size(c.oid) AS index_bytes,
       pg_total_relation_size(c.oid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 16;
SELECT indexrelid::regclass AS index, pg_relation_size(indexrelid) AS bytes
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relname IN ('issue','issue_event','issue_custody','issue_rating') ORDER BY 2 DESC;
SELECT pg_database_size(current_database()) AS db_bytes, pg_size_pretty(pg_database_size(current_database()));
