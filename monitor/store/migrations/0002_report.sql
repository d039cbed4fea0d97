-- What the quarterly report needs that outlives the raw results (pruned after
-- storage.retention): the dated content a page showed, per-hour content figures (blank,
-- undated, unanswered questions, broken links), the broken links themselves and login step
-- latency. Small tables, kept for years like rollups_hourly.
--
-- They are filled from probe_results by one statement-level trigger, from exactly the rows
-- each INSERT added (its transition table), so every writer fills them the same way and a
-- batch written twice (ON CONFLICT DO NOTHING inserts nothing) is counted once.

-- One row per distinct newest-item date a freshness, feed or interaction check saw: when it
-- was first and last seen. Ordered by first_seen_at they are the page's update history: the
-- time between an item's date and the next new item being seen is a gap without updates.
CREATE TABLE content_versions (
    site            text NOT NULL,
    check_id        text NOT NULL,
    location        text NOT NULL,
    newest_item_at  timestamptz NOT NULL,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    observations    bigint NOT NULL,
    PRIMARY KEY (site, check_id, location, newest_item_at)
);
CREATE INDEX content_versions_seen ON content_versions (site, check_id, first_seen_at);

-- Per check, location and UTC hour, over the results that read a page's content (they carry
-- items, a newest item, or a list of broken links). Ages are seconds between the probe and
-- the newest dated item; the maxima are of single observations.
CREATE TABLE content_hourly (
    site                    text NOT NULL,
    check_id                text NOT NULL,
    location                text NOT NULL,
    hour                    timestamptz NOT NULL,
    observations            bigint NOT NULL,
    -- items were found but none carried a usable date (counts as not updated)
    undated                 bigint NOT NULL,
    -- the page held no items at all (content_mismatch with items = 0: a blank column)
    blank                   bigint NOT NULL,
    max_age_seconds         double precision,
    items_max               integer,
    -- interaction checks: questions overdue, open, answered late (extra.*)
    unanswered_max          integer,
    open_questions_max      integer,
    late_answers_max        integer,
    median_response_sum     double precision NOT NULL DEFAULT 0,
    median_response_count   bigint NOT NULL DEFAULT 0,
    -- links checks: broken links found by one probe
    broken_links_max        integer,
    PRIMARY KEY (site, check_id, location, hour)
);
CREATE INDEX content_hourly_hour ON content_hourly (hour);

-- Every broken link a links check reported, with the reason last given.
CREATE TABLE broken_links_seen (
    site           text NOT NULL,
    check_id       text NOT NULL,
    location       text NOT NULL,
    url            text NOT NULL,
    reason         text NOT NULL DEFAULT '',
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    observations   bigint NOT NULL,
    PRIMARY KEY (site, check_id, location, url)
);

-- Login steps per check, location, UTC hour and step: attempts, failures, and the latency
-- histogram of the steps that succeeded (latency_buckets bounds, the last bucket +Inf).
CREATE TABLE login_steps_hourly (
    site             text NOT NULL,
    check_id         text NOT NULL,
    location         text NOT NULL,
    hour             timestamptz NOT NULL,
    step             text NOT NULL,
    position         integer NOT NULL,
    attempts         bigint NOT NULL,
    failures         bigint NOT NULL,
    latency_buckets  bigint[] NOT NULL,
    latency_sum      double precision NOT NULL,
    latency_count    bigint NOT NULL,
    PRIMARY KEY (site, check_id, location, hour, step)
);

-- A JSON number as a count or as seconds; anything else (a string, a huge or negative value)
-- is NULL, so a malformed `extra` can never make Postgres refuse the batch it came in.
CREATE FUNCTION monitor_json_count(value jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number'
                 AND (value #>> '{}')::numeric BETWEEN 0 AND 2000000000
           THEN round((value #>> '{}')::numeric)::integer END
$$;

CREATE FUNCTION monitor_json_seconds(value jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number'
                 AND (value #>> '{}')::numeric BETWEEN 0 AND 1e12
           THEN (value #>> '{}')::double precision END
$$;

CREATE FUNCTION monitor_report_facts() RETURNS trigger
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
           max(monitor_json_count(data -> 'extra' -> 'unanswered')),
           max(monitor_json_count(data -> 'extra' -> 'open_questions')),
           max(monitor_json_count(data -> 'extra' -> 'late_answers')),
           coalesce(sum(monitor_json_seconds(data -> 'extra' -> 'median_response_seconds')), 0),
           count(monitor_json_seconds(data -> 'extra' -> 'median_response_seconds')),
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
           coalesce((array_agg(data -> 'extra' -> 'broken_link_reasons' ->> link
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

CREATE TRIGGER probe_results_report_facts
    AFTER INSERT ON probe_results
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION monitor_report_facts();
