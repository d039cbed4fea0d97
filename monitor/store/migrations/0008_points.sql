-- Probe points (docs/probe-points.md): several locations probe the same checks at the same grid
-- instants; a failure a quorum of them sees is confirmed, one fewer see is suspected, and a
-- location that cannot see (blind) is not believed. No coordinator: these tables are the
-- shared record, and whichever location's transaction completes a quorum decides.

-- The grid instant a result answers (the same at every location); NULL before this migration.
ALTER TABLE probe_results ADD COLUMN slot timestamptz;

-- The points config as the monitors read it (each `monitor run` writes it with the checks).
CREATE TABLE points_config (
    id               integer PRIMARY KEY CHECK (id = 1),
    expected         text[] NOT NULL,
    quorum           integer NOT NULL CHECK (quorum >= 1),
    missing_after_s  double precision NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per location and shard, refreshed every points.refresh by that process: an expected
-- location none of whose rows is fresher than missing_after is missing.
CREATE TABLE probe_points (
    location      text NOT NULL,
    shard         text NOT NULL,
    started_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    blind         boolean NOT NULL DEFAULT false,
    blind_since   timestamptz,
    PRIMARY KEY (location, shard)
);

-- Spans in which a location could not see (its canaries failed, or nearly all its checks at
-- once): its failures there are the monitor's, not the sites'. ended_at NULL: still blind.
CREATE TABLE blind_spans (
    id          uuid PRIMARY KEY,
    location    text NOT NULL,
    shard       text NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    reason      text NOT NULL CHECK (reason IN ('canaries', 'checks')),
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX blind_spans_location ON blind_spans (location, started_at);

-- Incidents of a check as a whole: opened only when a quorum of locations has one open at
-- once; `locations` holds each agreeing location's incident, reason and first error.
CREATE TABLE check_incidents (
    id                  uuid PRIMARY KEY,
    site                text NOT NULL,
    check_id            text NOT NULL,
    owner               text NOT NULL,
    reason              text NOT NULL,
    opened_at           timestamptz NOT NULL,
    resolved_at         timestamptz,
    quorum              integer NOT NULL,
    reporting           integer NOT NULL,
    expected            text[] NOT NULL,
    locations           jsonb NOT NULL,
    during_maintenance  boolean NOT NULL DEFAULT false,
    revision            integer NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX check_incidents_one_open ON check_incidents (site, check_id)
    WHERE resolved_at IS NULL;
CREATE INDEX check_incidents_opened ON check_incidents (opened_at);

-- Decided slots that were not all ok, kept for years like the rollups: the report lists the
-- suspected ones. `votes`: each voting location's outcome ('blind' for a vote left out).
CREATE TABLE check_slots (
    site       text NOT NULL,
    check_id   text NOT NULL,
    slot       timestamptz NOT NULL,
    state      text NOT NULL CHECK (state IN ('confirmed', 'suspected')),
    reason     text NOT NULL,
    quorum     integer NOT NULL,
    reporting  integer NOT NULL,
    failed     integer NOT NULL,
    votes      jsonb NOT NULL,
    PRIMARY KEY (site, check_id, slot)
);
CREATE INDEX check_slots_slot ON check_slots (slot);

-- Decided slots per check (all locations together) and UTC hour of the slot, kept for years:
-- the official ratios of a quarter come from here without a scan of raw rows.
--   slots        slots with at least one vote that counts (not blind)
--   confirmed    slots where at least the quorum of voters failed (any failing outcome)
--   suspected    slots where some voters, fewer than the quorum, failed
--   unreachable  slots where at least the quorum of voters did not open the page (站点无法访问:
--                the transport outcomes and http_error, content_mismatch of http, login and
--                security checks, or an ok slower than the official 15 s)
--   blind_votes  votes left out because their location was blind
--   missing_votes  expected locations that gave no vote
--   confirmed_outcomes  confirmed slots by their reason, in rollup_outcomes order
CREATE TABLE check_hourly (
    site                text NOT NULL,
    check_id            text NOT NULL,
    hour                timestamptz NOT NULL,
    slots               bigint NOT NULL,
    confirmed           bigint NOT NULL,
    suspected           bigint NOT NULL,
    unreachable         bigint NOT NULL,
    blind_votes         bigint NOT NULL,
    missing_votes       bigint NOT NULL,
    confirmed_outcomes  bigint[] NOT NULL,
    PRIMARY KEY (site, check_id, hour)
);
CREATE INDEX check_hourly_hour ON check_hourly (hour);

-- Slots before settled_to are decided. One row; the settling location holds it locked.
CREATE TABLE points_progress (
    id          integer PRIMARY KEY CHECK (id = 1),
    settled_to  timestamptz
);
INSERT INTO points_progress (id, settled_to) VALUES (1, NULL);

-- The quorum taken over the locations that reported: `quorum` of `expected` scaled to
-- `reporting`, rounded up, at least 1 (monitor.config.effective_quorum is the same rule).
CREATE FUNCTION monitor_quorum(quorum integer, expected integer, reporting integer)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN reporting >= expected THEN quorum
                ELSE greatest(1, ceil(quorum::numeric * reporting / greatest(expected, 1)))::integer
           END
$$;

-- Count an array of outcome names in rollup_outcomes order.
CREATE FUNCTION monitor_outcome_counts(reasons text[]) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg((SELECT count(*) FROM unnest(coalesce(reasons, '{}')) AS r WHERE r = o.name)
                     ORDER BY o.position)
    FROM rollup_outcomes, unnest(names) WITH ORDINALITY AS o(name, position)
$$;

-- The locations that vote now: expected, heartbeat fresher than missing_after, not blind.
CREATE FUNCTION monitor_voters() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(p.location ORDER BY p.location), '{}')
    FROM (
        SELECT location
        FROM probe_points, points_config c
        WHERE c.id = 1 AND location = ANY (c.expected)
          AND last_seen_at > now() - make_interval(secs => c.missing_after_s)
        GROUP BY location
        HAVING NOT bool_or(blind)
    ) p
$$;

-- Open, resolve or extend the check-level incident of one check from the per-location
-- incidents open now. Runs in the transaction of whichever location changed one (trigger
-- below) and every points.refresh from each location; the advisory lock makes the locations
-- take turns, and each statement after it sees what the others committed.
CREATE FUNCTION monitor_confirm(p_site text, p_check text, p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cfg        points_config%ROWTYPE;
    voters     text[];
    needed     integer;
    agreeing   integer;
    agreed     jsonb;
    first_at   timestamptz;
    reason_of  text;
    owner_of   text;
    held       boolean;
    current    check_incidents%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(
        hashtextextended('monitor confirm ' || current_schema() || ' ' || p_site || '/' || p_check, 0)
    );
    SELECT * INTO cfg FROM points_config WHERE id = 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    voters := monitor_voters();
    needed := monitor_quorum(cfg.quorum, cardinality(cfg.expected), cardinality(voters));
    SELECT count(*),
           jsonb_object_agg(location, jsonb_build_object(
               'incident_id', id, 'reason', reason, 'opened_at', opened_at,
               'first_error', first_error)),
           (array_agg(opened_at ORDER BY opened_at))[needed],
           mode() WITHIN GROUP (ORDER BY reason),
           max(owner),
           bool_or(during_maintenance)
    INTO agreeing, agreed, first_at, reason_of, owner_of, held
    FROM incidents
    WHERE site = p_site AND check_id = p_check AND resolved_at IS NULL
      AND location = ANY (voters);
    SELECT * INTO current FROM check_incidents
    WHERE site = p_site AND check_id = p_check AND resolved_at IS NULL;
    IF cardinality(voters) > 0 AND agreeing >= needed THEN
        IF current.id IS NULL THEN
            INSERT INTO check_incidents (id, site, check_id, owner, reason, opened_at, quorum,
                                         reporting, expected, locations, during_maintenance)
            VALUES (gen_random_uuid(), p_site, p_check, owner_of, reason_of, first_at, needed,
                    cardinality(voters), cfg.expected, agreed, held)
            ON CONFLICT DO NOTHING;
        ELSIF NOT (current.locations ?& ARRAY(SELECT jsonb_object_keys(agreed))) THEN
            -- A location joins an open incident: added; the ones already named stay as they were.
            UPDATE check_incidents
            SET locations = agreed || current.locations, revision = revision + 1
            WHERE id = current.id;
        END IF;
    ELSIF current.id IS NOT NULL THEN
        UPDATE check_incidents
        SET resolved_at = greatest(coalesce(p_at, now()), opened_at), revision = revision + 1
        WHERE id = current.id;
    END IF;
END
$$;

CREATE FUNCTION monitor_incident_confirm() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM monitor_confirm(NEW.site, NEW.check_id, coalesce(NEW.resolved_at, now()));
    RETURN NULL;
END
$$;

CREATE TRIGGER incidents_confirm_opened AFTER INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION monitor_incident_confirm();
CREATE TRIGGER incidents_confirm_resolved AFTER UPDATE OF resolved_at ON incidents
    FOR EACH ROW WHEN (OLD.resolved_at IS DISTINCT FROM NEW.resolved_at)
    EXECUTE FUNCTION monitor_incident_confirm();

-- Decide every slot whose results are all in: slots before now() - wait_s, at most max_span_s
-- of them per call. One location settles at a time (the others skip, and return -1); each
-- slot is decided once. Per slot: one vote per expected location (its latest result; a
-- probe_error is no vote, a vote inside a blind span of its location is left out), the
-- quorum taken over the voters. Returns the number of slots decided.
CREATE FUNCTION monitor_settle(wait_s double precision, max_span_s double precision,
                               early_s double precision)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    cfg      points_config%ROWTYPE;
    from_t   timestamptz;
    upto     timestamptz := now() - make_interval(secs => wait_s);
    decided  integer := 0;
BEGIN
    SELECT settled_to INTO from_t FROM points_progress WHERE id = 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    SELECT * INTO cfg FROM points_config WHERE id = 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- First call: from the oldest result that has a slot, within the last max_span_s.
    IF from_t IS NULL THEN
        SELECT min(slot) INTO from_t FROM probe_results
        WHERE started_at > upto - make_interval(secs => max_span_s) AND slot IS NOT NULL;
        from_t := coalesce(from_t, upto);
    END IF;
    upto := least(upto, from_t + make_interval(secs => max_span_s));
    IF upto <= from_t THEN
        RETURN 0;
    END IF;
    WITH votes AS (
        SELECT DISTINCT ON (r.site, r.check_id, r.slot, r.location)
               r.site, r.check_id, r.slot, r.location, r.type, r.outcome, r.duration_seconds,
               r.started_at
        FROM probe_results r
        WHERE r.started_at >= from_t - make_interval(secs => early_s)
          AND r.slot >= from_t AND r.slot < upto
          AND r.outcome <> 'probe_error' AND r.location = ANY (cfg.expected)
        ORDER BY r.site, r.check_id, r.slot, r.location, r.started_at DESC
    ), marked AS (
        SELECT v.*,
               EXISTS (SELECT 1 FROM blind_spans b
                       WHERE b.location = v.location AND v.started_at >= b.started_at
                         AND (b.ended_at IS NULL OR v.started_at < b.ended_at)) AS blind,
               v.outcome <> 'ok' AS failed,
               (v.outcome IN ('dns_error', 'connect_error', 'timeout', 'tls_error', 'dropout',
                              'http_error')
                OR (v.outcome = 'content_mismatch' AND v.type IN ('http', 'login', 'security'))
                OR (v.outcome = 'ok' AND v.duration_seconds > 15)) AS unreachable
        FROM votes v
    ), per_slot AS (
        SELECT site, check_id, slot,
               count(*) FILTER (WHERE NOT blind)::integer AS reporting,
               count(*) FILTER (WHERE blind)::integer AS blind_votes,
               count(*) FILTER (WHERE NOT blind AND failed)::integer AS failed,
               count(*) FILTER (WHERE NOT blind AND unreachable)::integer AS unreachable,
               jsonb_object_agg(location, CASE WHEN blind THEN 'blind' ELSE outcome END) AS votes,
               mode() WITHIN GROUP (ORDER BY outcome) FILTER (WHERE NOT blind AND failed)
                   AS reason
        FROM marked
        GROUP BY 1, 2, 3
    ), judged AS (
        SELECT p.*, monitor_quorum(cfg.quorum, cardinality(cfg.expected), p.reporting) AS needed
        FROM per_slot p
    ), decided AS (
        SELECT j.*,
               CASE WHEN j.reporting = 0 THEN 'blind'
                    WHEN j.failed >= j.needed THEN 'confirmed'
                    WHEN j.failed > 0 THEN 'suspected'
                    ELSE 'ok' END AS state
        FROM judged j
    ), kept AS (
        INSERT INTO check_slots (site, check_id, slot, state, reason, quorum, reporting, failed,
                                 votes)
        SELECT site, check_id, slot, state, reason, needed, reporting, failed, votes
        FROM decided WHERE state IN ('confirmed', 'suspected')
        ON CONFLICT (site, check_id, slot) DO NOTHING
    ), rolled AS (
        INSERT INTO check_hourly AS h (site, check_id, hour, slots, confirmed, suspected,
                                       unreachable, blind_votes, missing_votes,
                                       confirmed_outcomes)
        SELECT site, check_id, date_trunc('hour', slot, 'UTC'),
               count(*) FILTER (WHERE reporting > 0),
               count(*) FILTER (WHERE state = 'confirmed'),
               count(*) FILTER (WHERE state = 'suspected'),
               count(*) FILTER (WHERE reporting > 0 AND unreachable >= needed),
               sum(blind_votes),
               sum(greatest(cardinality(cfg.expected) - reporting - blind_votes, 0)),
               monitor_outcome_counts(array_agg(reason) FILTER (WHERE state = 'confirmed'))
        FROM decided
        GROUP BY 1, 2, 3
        ON CONFLICT (site, check_id, hour) DO UPDATE SET
            slots = h.slots + excluded.slots,
            confirmed = h.confirmed + excluded.confirmed,
            suspected = h.suspected + excluded.suspected,
            unreachable = h.unreachable + excluded.unreachable,
            blind_votes = h.blind_votes + excluded.blind_votes,
            missing_votes = h.missing_votes + excluded.missing_votes,
            confirmed_outcomes = monitor_add_counts(h.confirmed_outcomes,
                                                    excluded.confirmed_outcomes)
    )
    SELECT count(*) INTO decided FROM decided;
    UPDATE points_progress SET settled_to = upto WHERE id = 1;
    RETURN decided;
END
$$;
