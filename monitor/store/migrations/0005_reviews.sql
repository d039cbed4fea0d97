-- Manual reviews (人工核查): a person's judgement on a verdict or a finding, with who, when and
-- why. A review names a site, a check or a rule (an indicator), a span and a decision:
-- exempt (the finding is the monitor's mistake or rightly so: no veto), confirm (a suspected
-- finding is real: a veto), reject (a finding is wrong). Rows are never changed or deleted:
-- withdrawing a review is a new row (decision 'withdraw') pointing at it.
CREATE TABLE reviews (
    id          bigserial PRIMARY KEY,
    site        text NOT NULL,
    check_id    text,
    rule        text,
    span_start  timestamptz NOT NULL,
    span_end    timestamptz NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('exempt', 'confirm', 'reject', 'withdraw')),
    reason      text NOT NULL CHECK (reason <> ''),
    reviewer    text NOT NULL CHECK (reviewer <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    withdraws   bigint UNIQUE REFERENCES reviews (id),
    CHECK (span_end > span_start),
    CHECK ((check_id IS NULL) <> (rule IS NULL)),
    CHECK ((decision = 'withdraw') = (withdraws IS NOT NULL))
);
CREATE INDEX reviews_site ON reviews (site, span_start);

CREATE FUNCTION reviews_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reviews are never changed or deleted: withdraw a review instead';
END
$$;
CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_append_only();
