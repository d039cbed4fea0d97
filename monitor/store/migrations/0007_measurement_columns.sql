-- The figures of a result's measurement that the report aggregates become typed columns of
-- probe_results, written by the store writer from the typed measurement
-- (monitor.measurements), in place of 0002's and 0003's reads of `data -> 'extra' -> 'key'`:
-- the key names now live in one place (the measurement classes) and a renamed field breaks
-- at type-check time instead of silently emptying a report table. `data.extra` keeps the
-- whole measurement as before, so rows stored earlier read the same; the report's tables
-- were filled from them when they were inserted, and the two trigger functions below (same
-- tables, same rules) read the columns from now on.
--
-- The writer bounds the values as 0002's monitor_json_count/monitor_json_seconds did (counts
-- 0 to 2e9, seconds 0 to 1e12, anything else NULL), so an odd value is NULL rather than a
-- batch Postgres refuses.

ALTER TABLE probe_results
    ADD COLUMN unanswered                 integer,
    ADD COLUMN open_questions             integer,
    ADD COLUMN late_answers               integer,
    ADD COLUMN oldest_unanswered_seconds  double precision,
    ADD COLUMN median_response_seconds    double precision,
    ADD COLUMN slowest_answer_seconds     double precision,
    ADD COLUMN login_seconds              double precision,
    ADD COLUMN slow_login                 boolean,
    -- broken link -> why it is broken, as the links check reported it
    ADD COLUMN broken_link_reasons        jsonb;

CREATE OR REPLACE FUNCTION monitor_report_facts() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bounds double precision[] := (SELECT b.bounds FROM latency_buckets b);
BEGIN
    INSERT INTO content_versions AS v
        (site, check_id, location, newest_item_at, first_seen_at, last_seen_at, observations)
    SELECT site, check_id, location, newest_item_at, min(started_at), max(started_at), count(*)
    FROM inserted
    WHERE newest_item_at IS NOT NULL AND outcome <> 'probe_error'
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (site, check_id, location, newest_item_at) DO UPDATE SET
        first_seen_at = least(v.first_seen_at, excluded.first_seen_at),
        last_seen_at = greatest(v.last_seen_at, excluded.last_seen_at),
        observations = v.observations + excluded.observations;

    INSERT INTO content_hourly AS c
        (site, check_id, location, hour, observations, undated, blank, max_age_seconds,
         items_max, unanswered_max, open_questions_max, late_answers_max,
         median_response_sum, median_response_count, broken_links_max)
    SELECT site, check_id, location, date_trunc('hour', started_at, 'UTC'),
           count(*),
           count(*) FILTER (WHERE newest_item_at IS NULL AND items > 0),
           count(*) FILTER (WHERE outcome = 'content_mismatch' AND items = 0),
           max(extract(epoch FROM started_at - newest_item_at)),
           max(items),
           max(unanswered),
           max(open_questions),
           max(late_answers),
           coalesce(sum(median_response_seconds), 0),
           count(median_response_seconds),
           max(CASE WHEN jsonb_typeof(data -> 'broken_links') = 'array'
                    THEN jsonb_array_length(data -> 'broken_links') END)
    FROM inserted
    WHERE outcome <> 'probe_error'
      AND (items IS NOT NULL OR newest_item_at IS NOT NULL OR data ? 'broken_links')
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (site, check_id, location, hour) DO UPDATE SET
        observations = c.observations + excluded.observations,
        undated = c.undated + excluded.undated,
        blank = c.blank + excluded.blank,
        max_age_seconds = greatest(c.max_age_seconds, excluded.max_age_seconds),
        items_max = greatest(c.items_max, excluded.items_max),
        unanswered_max = greatest(c.unanswered_max, excluded.unanswered_max),
        open_questions_max = greatest(c.open_questions_max, excluded.open_questions_max),
        late_answers_max = greatest(c.late_answers_max, excluded.late_answers_max),
        median_response_sum = c.median_response_sum + excluded.median_response_sum,
        median_response_count = c.median_response_count + excluded.median_response_count,
        broken_links_max = greatest(c.broken_links_max, excluded.broken_links_max);

    INSERT INTO broken_links_seen AS b
        (site, check_id, location, url, reason, first_seen_at, last_seen_at, observations)
    SELECT site, check_id, location, link,
           coalesce((array_agg(broken_link_reasons ->> link
                               ORDER BY started_at DESC))[1], ''),
           min(started_at), max(started_at), count(*)
    FROM inserted,
         jsonb_array_elements_text(CASE WHEN jsonb_typeof(data -> 'broken_links') = 'array'
                                        THEN data -> 'broken_links' END) AS link
    WHERE outcome <> 'probe_error'
    GROUP BY site, check_id, location, link
    ON CONFLICT (site, check_id, location, url) DO UPDATE SET
        reason = excluded.reason,
        first_seen_at = least(b.first_seen_at, excluded.first_seen_at),
        last_seen_at = greatest(b.last_seen_at, excluded.last_seen_at),
        observations = b.observations + excluded.observations;

    -- Each step's bucket: the index (0-based) of the first bound at or above its duration.
    WITH steps AS (
        SELECT r.site, r.check_id, r.location, date_trunc('hour', r.started_at, 'UTC') AS hour,
               coalesce(s.value ->> 'name', '') AS step, s.position::integer AS position,
               monitor_json_seconds(s.value -> 'duration_seconds') AS seconds,
               coalesce(s.value ->> 'outcome' = 'ok', false) AS ok
        FROM inserted r,
             jsonb_array_elements(CASE WHEN jsonb_typeof(r.data -> 'steps') = 'array'
                                       THEN r.data -> 'steps' END)
                 WITH ORDINALITY AS s(value, position)
        WHERE jsonb_typeof(r.data -> 'steps') = 'array' AND r.outcome <> 'probe_error'
          AND jsonb_typeof(s.value) = 'object'
    ), bucketed AS (
        -- width_bucket counts the bounds at or below; a duration on a bound belongs below it.
        SELECT steps.*, width_bucket(seconds, bounds) - (seconds = ANY (bounds))::integer AS bucket
        FROM steps
    ), per_step AS (
        SELECT site, check_id, location, hour, step, min(position) AS position,
               count(*) AS attempts, count(*) FILTER (WHERE NOT ok) AS failures,
               coalesce(sum(seconds) FILTER (WHERE ok), 0) AS latency_sum,
               count(seconds) FILTER (WHERE ok) AS latency_count,
               array_agg(bucket) FILTER (WHERE ok AND seconds IS NOT NULL) AS buckets
        FROM bucketed GROUP BY 1, 2, 3, 4, 5
    )
    INSERT INTO login_steps_hourly AS l
        (site, check_id, location, hour, step, position, attempts, failures, latency_buckets,
         latency_sum, latency_count)
    SELECT site, check_id, location, hour, step, position, attempts, failures,
           ARRAY(SELECT count(*) FILTER (WHERE k = i)
                 FROM generate_series(0, cardinality(bounds)) AS i
                 LEFT JOIN unnest(coalesce(buckets, '{}')) AS k ON k = i
                 GROUP BY i ORDER BY i)::bigint[],
           latency_sum, latency_count
    FROM per_step
    ON CONFLICT (site, check_id, location, hour, step) DO UPDATE SET
        attempts = l.attempts + excluded.attempts,
        failures = l.failures + excluded.failures,
        latency_buckets = monitor_add_counts(l.latency_buckets, excluded.latency_buckets),
        latency_sum = l.latency_sum + excluded.latency_sum,
        latency_count = l.latency_count + excluded.latency_count;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION monitor_report_evidence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO interaction_hourly AS i
        (site, check_id, location, hour, observations, oldest_unanswered_max, slowest_answer_max)
    SELECT site, check_id, location, date_trunc('hour', started_at, 'UTC'), count(*),
           max(oldest_unanswered_seconds),
           max(slowest_answer_seconds)
    FROM inserted
    -- Only observations that carry the evidence: the oldest question's age, or no open one.
    WHERE outcome <> 'probe_error'
      AND (oldest_unanswered_seconds IS NOT NULL OR open_questions = 0)
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (site, check_id, location, hour) DO UPDATE SET
        observations = i.observations + excluded.observations,
        oldest_unanswered_max = greatest(i.oldest_unanswered_max, excluded.oldest_unanswered_max),
        slowest_answer_max = greatest(i.slowest_answer_max, excluded.slowest_answer_max);

    INSERT INTO login_hourly AS l
        (site, check_id, location, hour, logins, slow_logins, login_seconds_max)
    SELECT site, check_id, location, date_trunc('hour', started_at, 'UTC'), count(*),
           count(*) FILTER (WHERE slow_login),
           max(login_seconds)
    FROM inserted
    WHERE outcome = 'ok' AND login_seconds IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (site, check_id, location, hour) DO UPDATE SET
        logins = l.logins + excluded.logins,
        slow_logins = l.slow_logins + excluded.slow_logins,
        login_seconds_max = greatest(l.login_seconds_max, excluded.login_seconds_max);
    RETURN NULL;
END
$$;
