//! Bulk actions on the PostgreSQL spool: counting what a filter selects for
//! an action, and applying it one batch at a time, each batch one statement
//! that locks its rows (`FOR UPDATE`) so that a replica's claim or outcome
//! waits for it rather than racing it. A replayed or cancelled delivery
//! loses its lease: replayed ones are claimed afresh by any replica.
//! Must not decide what is selected (`spool::bulk` and `spool::filter`
//! do) nor render bodies (the caller does).

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use crate::spool::bulk::{self, Action, Batch, Pended, Rerendered, Scope, Selected, Unrendered};
use crate::spool::filter::{Dialect, Sql, SqlValue};
use crate::spool::{Pending, SpoolError, bulk::cancelled_by};
use crate::time::now_ms;

type Param = Box<dyn ToSql + Sync + Send>;

/// The condition's values as parameters, after the caller's own `mine`
/// (those the placeholders before the condition's first stand for).
fn params(sql: &Sql, first: usize, mine: Vec<Param>) -> Vec<Param> {
    let mut all = mine;
    all.extend(sql.own_values(first).iter().map(|v| -> Param {
        match v {
            SqlValue::Text(t) => Box::new(t.clone()),
            SqlValue::Int(i) => Box::new(*i),
        }
    }));
    all
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

/// How many deliveries `action` would touch within `scope`, and the highest
/// delivery id now.
pub async fn count(client: &Object, action: Action, scope: &Scope) -> Result<Selected, SpoolError> {
    let sql = bulk::selected(action, scope, Dialect::Postgres, 1);
    let values = params(&sql, 1, Vec::new());
    let row = client
        .query_one(
            &format!(
                "SELECT COUNT(*), (SELECT COALESCE(MAX(id), 0) FROM deliveries)::bigint
                 FROM deliveries d JOIN events e ON e.id = d.event_id WHERE {}",
                sql.text
            ),
            &refs(&values),
        )
        .await?;
    Ok(Selected {
        count: row.get::<_, i64>(0).max(0) as u64,
        through: row.get(1),
    })
}

/// Applies `action` in place to the next batch within `scope`.
pub async fn apply(
    client: &Object,
    action: Action,
    scope: &Scope,
    who: &str,
) -> Result<Batch, SpoolError> {
    // $1 now, $2 the cancel's reason (always bound, so named in the
    // statement even by a replay); the condition's from $3.
    let sql = bulk::changed(action, scope, Dialect::Postgres, 3);
    let set = match action {
        Action::Replay { .. } => {
            "state = 'pending', attempts = 0, due_at = $1, last_error = NULL, last_class = NULL"
        }
        Action::Cancel => "state = 'cancelled', last_error = $2",
    };
    let values = params(
        &sql,
        3,
        vec![Box::new(now_ms()), Box::new(cancelled_by(who))],
    );
    let row = client
        .query_one(
            &format!(
                "WITH picked AS (
                     SELECT d.id, d.state IN ('pending', 'parked') AS counted, d.size
                     FROM deliveries d JOIN events e ON e.id = d.event_id
                     WHERE {cond} ORDER BY d.id LIMIT {limit} FOR UPDATE OF d
                 ), changed AS (
                     UPDATE deliveries d SET {set}, updated_at = $1, leased_by = NULL,
                         leased_until = NULL
                     FROM picked p WHERE d.id = p.id AND $2::text IS NOT NULL
                     RETURNING d.id, p.counted, p.size
                 )
                 SELECT (SELECT COUNT(*) FROM picked), (SELECT MAX(id) FROM picked),
                        ARRAY(SELECT id FROM changed ORDER BY id),
                        (SELECT COUNT(*) FROM changed WHERE counted = {moved}),
                        (SELECT COALESCE(SUM(size), 0)::bigint FROM changed WHERE counted = {moved})",
                cond = sql.text,
                limit = scope.limit,
                // A replay counts what it makes pending; a cancel stops
                // counting what it cancels (all pending).
                moved = matches!(action, Action::Cancel),
            ),
            &refs(&values),
        )
        .await?;
    Ok(Batch {
        scanned: row.get::<_, i64>(0).max(0) as usize,
        last: row.get(1),
        changed: row.get(2),
        moved: Pending {
            deliveries: row.get::<_, i64>(3).max(0) as u64,
            bytes: row.get::<_, i64>(4).max(0) as u64,
        },
    })
}

/// The next batch of unrendered deliveries within `scope`.
pub async fn unrendered(client: &Object, scope: &Scope) -> Result<Vec<Unrendered>, SpoolError> {
    let sql = bulk::unrendered(scope, Dialect::Postgres, 1);
    let values = params(&sql, 1, Vec::new());
    let rows = client
        .query(
            &format!(
                "SELECT d.id, e.source, e.headers, e.body, d.target, d.route
                 FROM deliveries d JOIN events e ON e.id = d.event_id
                 WHERE {} ORDER BY d.id LIMIT {}",
                sql.text, scope.limit
            ),
            &refs(&values),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Unrendered {
            id: r.get(0),
            source: r.get(1),
            headers: r.get(2),
            body: bytes::Bytes::from(r.get::<_, Vec<u8>>(3)),
            target: r.get(4),
            route: r.get(5),
        })
        .collect())
}

/// Stores what rendering unrendered deliveries again came to; those made
/// pending.
pub async fn rerendered(client: &mut Object, results: &[Rerendered]) -> Result<Pended, SpoolError> {
    let now = now_ms();
    let tx = client.transaction().await?;
    let pending_stmt = tx
        .prepare(
            "UPDATE deliveries d SET state = 'pending', attempts = 0, due_at = $1, updated_at = $1,
                 last_error = NULL, last_class = NULL, leased_by = NULL, leased_until = NULL,
                 body = $3::bytea,
                 size = COALESCE(length($3::bytea), (SELECT length(e.body) FROM events e WHERE e.id = d.event_id))
             WHERE d.id = $2 AND d.state = 'unrendered' RETURNING d.size",
        )
        .await?;
    let failed_stmt = tx
        .prepare(
            "UPDATE deliveries SET last_error = $3, updated_at = $1 WHERE id = $2 AND state = 'unrendered'",
        )
        .await?;
    let mut pended = Pended::default();
    for r in results {
        match &r.body {
            Ok(body) => {
                let body: Option<&[u8]> = body.as_deref();
                if let Some(row) = tx.query_opt(&pending_stmt, &[&now, &r.id, &body]).await? {
                    pended.ids.push(r.id);
                    pended.moved.deliveries += 1;
                    pended.moved.bytes += row.get::<_, i64>(0).max(0) as u64;
                }
            }
            Err(error) => {
                tx.execute(&failed_stmt, &[&now, &r.id, error]).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(pended)
}
