-- Every table derived from probe_results is filled one way: by statement-level triggers over
-- exactly the rows each INSERT added (its transition table), as 0002 and 0003 fill the
-- report's tables. Until now the hourly rollups and the freshness observations were filled
-- by the writer's own statement instead (a CTE over INSERT ... RETURNING, generated in Python
-- from the bucket bounds and outcome names). This trigger fills them by the same rules from
-- the same two tables, in the same transaction: any writer fills every derived table alike,
-- and a batch written twice (ON CONFLICT DO NOTHING inserts nothing) is counted once.

-- counts[p] = how many of `positions` are p, for p in 1..size (NULL or outside: not counted).
CREATE FUNCTION monitor_histogram(positions integer[], size integer) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    counts bigint[] := array_fill(0::bigint, ARRAY[size]);
    p integer;
BEGIN
    FOREACH p IN ARRAY coalesce(positions, '{}') LOOP
        IF p BETWEEN 1 AND size THEN
            counts[p] := counts[p] + 1;
        END IF;
    END LOOP;
    RETURN counts;
END
$$;

CREATE FUNCTION monitor_rollups() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bounds double precision[] := (SELECT b.bounds FROM latency_buckets b);
    names text[] := (SELECT o.names FROM rollup_outcomes o);
BEGIN
    INSERT INTO freshness_observations
        (result_id, site, check_id, location, observed_at, newest_item_at, items)
    SELECT id, site, check_id, location, started_at, newest_item_at, items
    FROM inserted WHERE newest_item_at IS NOT NULL OR items IS NOT NULL
    ON CONFLICT (result_id) DO NOTHING;

    -- outcome_counts[i]: the probes whose outcome is names[i]. latency_buckets[i]: the ok
    -- probes with bounds[i-1] < duration <= bounds[i] (the last bucket +Inf); width_bucket
    -- counts the bounds at or below, and a duration on a bound belongs below it.
    INSERT INTO rollups_hourly AS r (site, check_id, location, hour, probes, failures,
                                     outcome_counts, latency_buckets, latency_sum, latency_count)
    SELECT site, check_id, location, date_trunc('hour', started_at, 'UTC'),
           count(*) FILTER (WHERE outcome <> 'probe_error'),
           count(*) FILTER (WHERE outcome NOT IN ('ok', 'probe_error')),
           monitor_histogram(array_agg(array_position(names, outcome)), cardinality(names)),
           monitor_histogram(
               array_agg(width_bucket(duration_seconds, bounds)
                         - (duration_seconds = ANY (bounds))::integer + 1)
                   FILTER (WHERE outcome = 'ok'),
               cardinality(bounds) + 1),
           coalesce(sum(duration_seconds) FILTER (WHERE outcome = 'ok'), 0),
           count(*) FILTER (WHERE outcome = 'ok')
    FROM inserted
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (site, check_id, location, hour) DO UPDATE SET
        probes = r.probes + excluded.probes,
        failures = r.failures + excluded.failures,
        outcome_counts = monitor_add_counts(r.outcome_counts, excluded.outcome_counts),
        latency_buckets = monitor_add_counts(r.latency_buckets, excluded.latency_buckets),
        latency_sum = r.latency_sum + excluded.latency_sum,
        latency_count = r.latency_count + excluded.latency_count;
    RETURN NULL;
END
$$;

CREATE TRIGGER probe_results_rollups
    AFTER INSERT ON probe_results
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION monitor_rollups();
