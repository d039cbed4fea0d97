"""Reading and writing manual reviews (migrations/0005_reviews.sql): append only."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from monitor.reviews import (
    Decision,
    NewReview,
    Review,
    ReviewNotFoundError,
    Withdrawal,
    check_withdrawal,
)

_SELECT = """
SELECT r.id, r.site, r.check_id, r.rule, r.span_start, r.span_end, r.decision, r.reason,
       r.reviewer, r.created_at,
       w.id AS w_id, w.reason AS w_reason, w.reviewer AS w_reviewer, w.created_at AS w_at
FROM reviews r LEFT JOIN reviews w ON w.withdraws = r.id
WHERE r.decision <> 'withdraw'
"""


def _review(row: asyncpg.Record) -> Review:
    withdrawn = None
    if row["w_id"] is not None:
        withdrawn = Withdrawal(row["w_id"], row["w_reason"], row["w_reviewer"], row["w_at"])
    return Review(
        id=row["id"],
        site=row["site"],
        check=row["check_id"],
        rule=row["rule"],
        start=row["span_start"],
        end=row["span_end"],
        decision=Decision(row["decision"]),
        reason=row["reason"],
        reviewer=row["reviewer"],
        created_at=row["created_at"],
        withdrawn=withdrawn,
    )


async def add_review(pool: asyncpg.Pool, review: NewReview, at: datetime) -> Review:
    row = await pool.fetchrow(
        """
        INSERT INTO reviews (site, check_id, rule, span_start, span_end, decision, reason,
                             reviewer, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        RETURNING id, site, check_id, rule, span_start, span_end, decision, reason, reviewer,
                  created_at, NULL::bigint AS w_id, NULL AS w_reason, NULL AS w_reviewer,
                  NULL::timestamptz AS w_at
        """,
        review.site,
        review.check,
        review.rule,
        review.start,
        review.end,
        str(review.decision),
        review.reason,
        review.reviewer,
        at,
    )
    assert row is not None
    return _review(row)


async def withdraw_review(
    pool: asyncpg.Pool, review_id: int, reason: str, reviewer: str, at: datetime
) -> Review:
    """Withdraw review `review_id` with a new record; raises ReviewError if there is no such
    review in force."""
    check_withdrawal(reason, reviewer)
    async with pool.acquire() as conn, conn.transaction():
        # Serialises two withdrawals of one review (the UNIQUE index would refuse the second).
        original = await conn.fetchrow(
            "SELECT * FROM reviews WHERE id = $1 AND decision <> 'withdraw' FOR SHARE", review_id
        )
        if original is None:
            raise ReviewNotFoundError(f"review {review_id}: no such review")
        if await conn.fetchval("SELECT 1 FROM reviews WHERE withdraws = $1", review_id):
            raise ReviewNotFoundError(f"review {review_id}: already withdrawn")
        try:
            await conn.execute(
                """
                INSERT INTO reviews (site, check_id, rule, span_start, span_end, decision,
                                     reason, reviewer, created_at, withdraws)
                VALUES ($1, $2, $3, $4, $5, 'withdraw', $6, $7, $8, $9)
                """,
                original["site"],
                original["check_id"],
                original["rule"],
                original["span_start"],
                original["span_end"],
                reason,
                reviewer,
                at,
                review_id,
            )
        except asyncpg.UniqueViolationError:
            raise ReviewNotFoundError(f"review {review_id}: already withdrawn") from None
        row = await conn.fetchrow(_SELECT + " AND r.id = $1", review_id)
    assert row is not None
    return _review(row)


async def list_reviews(
    pool: asyncpg.Pool | asyncpg.Connection,
    *,
    site: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    in_force_only: bool = True,
) -> list[Review]:
    """Reviews in the order they were recorded; `since`/`until`: spans overlapping them."""
    sql = (
        _SELECT
        + """
        AND ($1::text IS NULL OR r.site = $1)
        AND ($2::timestamptz IS NULL OR r.span_end > $2)
        AND ($3::timestamptz IS NULL OR r.span_start < $3)
        AND (NOT $4 OR w.id IS NULL)
        ORDER BY r.id
    """
    )
    rows = await pool.fetch(sql, site, since, until, in_force_only)
    return [_review(row) for row in rows]
