-- The first schema: configured sites and checks, raw probe results, hourly rollups,
-- incidents with their events, and freshness observations. Times are timestamptz (UTC inside).
-- Objects are created unqualified, in the first schema of the connection's search_path.

CREATE TABLE sites (
    id          text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    kind        text NOT NULL,
    owner       text NOT NULL,
    -- false once the site left the config; its history stays.
    active      boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE checks (
    site               text NOT NULL REFERENCES sites (id),
    check_id           text NOT NULL,
    type               text NOT NULL,
    name               text NOT NULL DEFAULT '',
    interval_seconds   double precision NOT NULL,
    timeout_seconds    double precision NOT NULL,
    failure_threshold  integer NOT NULL,
    success_threshold  integer NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, check_id)
);

-- Raw results, pruned after storage.retention. `id` is made by the monitor (time-ordered
-- UUID) so a batch written twice (committed, acknowledgement lost) is stored once.
CREATE TABLE probe_results (
    id                   uuid PRIMARY KEY,
    site                 text NOT NULL,
    check_id             text NOT NULL,
    location             text NOT NULL,
    type                 text NOT NULL,
    started_at           timestamptz NOT NULL,
    duration_seconds     double precision NOT NULL,
    outcome              text NOT NULL,
    detail               text NOT NULL DEFAULT '',
    status_code          integer,
    -- Seconds per HTTP phase in the order resolve, connect, tls, processing, transfer.
    phases               double precision[],
    cert_expiry_at       timestamptz,
    tls_verified         boolean,
    content_age_seconds  double precision,
    newest_item_at       timestamptz,
    items                integer,
    -- Whatever else the check type reports: broken_links, steps, extra.
    data                 jsonb
);
CREATE INDEX probe_results_check_time ON probe_results (site, check_id, started_at);
-- Pruning by age scans this; BRIN stays tiny on an append-mostly table.
CREATE INDEX probe_results_started_brin ON probe_results USING brin (started_at);

-- Upper bounds (seconds) of the latency histogram buckets of rollups_hourly; the last bucket
-- of every rollup is +Inf. Changing them is a new migration with a new column.
CREATE TABLE latency_buckets (
    bounds double precision[] NOT NULL
);
INSERT INTO latency_buckets (bounds) VALUES
    ('{0.05,0.1,0.2,0.3,0.5,0.75,1,1.5,2,3,5,7.5,10,15,20,30,60}');

-- The outcomes counted by rollups_hourly.outcome_counts, in that array's order. A new outcome
-- is appended here by a migration; older rows read 0 for it.
CREATE TABLE rollup_outcomes (
    names text[] NOT NULL
);
INSERT INTO rollup_outcomes (names) VALUES
    ('{ok,dns_error,connect_error,timeout,tls_error,dropout,http_error,content_mismatch,'
     'login_failed,session_dropped,stale,broken_links,unanswered,probe_error}');

-- One row per check, location and UTC hour, kept for years: availability and latency
-- percentiles of a quarter come from here. `probes` leaves out probe_error (the monitor's own
-- failures); `failures` are probes whose outcome is not ok; `outcome_counts` counts every
-- outcome, probe_error included, in rollup_outcomes order. The latency histogram counts
-- successful (ok) probes only, by latency_buckets. Counts are arrays rather than JSON because
-- the writer adds to them on every batch and array addition is several times cheaper.
CREATE TABLE rollups_hourly (
    site             text NOT NULL,
    check_id         text NOT NULL,
    location         text NOT NULL,
    hour             timestamptz NOT NULL,
    probes           bigint NOT NULL,
    failures         bigint NOT NULL,
    outcome_counts   bigint[] NOT NULL,
    latency_buckets  bigint[] NOT NULL,
    latency_sum      double precision NOT NULL,
    latency_count    bigint NOT NULL,
    PRIMARY KEY (site, check_id, location, hour)
)
-- Each row is updated about once per probe during its hour: leave room on the page so the
-- update stays on it (HOT) and the indexes are not touched.
WITH (fillfactor = 50);
CREATE INDEX rollups_hourly_hour ON rollups_hourly (hour);

-- Element-wise sum of two count arrays; the shorter one counts as 0 past its end.
CREATE FUNCTION monitor_add_counts(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    total bigint[] := a;
BEGIN
    FOR i IN 1 .. greatest(cardinality(a), cardinality(b)) LOOP
        total[i] := coalesce(a[i], 0) + coalesce(b[i], 0);
    END LOOP;
    RETURN total;
END
$$;

CREATE TABLE incidents (
    id                  uuid PRIMARY KEY,
    site                text NOT NULL,
    check_id            text NOT NULL,
    location            text NOT NULL,
    owner               text NOT NULL,
    reason              text NOT NULL,
    opened_at           timestamptz NOT NULL,
    resolved_at         timestamptz,
    resolution          text NOT NULL DEFAULT '',
    failures            integer NOT NULL,
    outcome_counts      jsonb NOT NULL,
    first_error         text NOT NULL DEFAULT '',
    last_error          text NOT NULL DEFAULT '',
    last_failure_at     timestamptz NOT NULL,
    during_maintenance  boolean NOT NULL DEFAULT false,
    -- Raised on every change; an older snapshot never overwrites a newer one.
    revision            integer NOT NULL
);
-- At most one open incident per check and location, whatever happens around restarts.
CREATE UNIQUE INDEX incidents_one_open ON incidents (site, check_id, location)
    WHERE resolved_at IS NULL;
CREATE INDEX incidents_opened ON incidents (opened_at);

CREATE TABLE incident_events (
    id           uuid PRIMARY KEY,
    incident_id  uuid NOT NULL,
    kind         text NOT NULL,
    at           timestamptz NOT NULL,
    revision     integer NOT NULL,
    snapshot     jsonb NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, revision);

-- What freshness-type checks saw: the newest dated item and how many items there were.
-- Pruned with the raw results.
CREATE TABLE freshness_observations (
    result_id       uuid PRIMARY KEY,
    site            text NOT NULL,
    check_id        text NOT NULL,
    location        text NOT NULL,
    observed_at     timestamptz NOT NULL,
    newest_item_at  timestamptz,
    items           integer
);
CREATE INDEX freshness_observations_check_time
    ON freshness_observations (site, check_id, observed_at);
