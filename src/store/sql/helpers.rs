//! What every resource does the same way on either backend: a row by id, a page of a list, a
//! delete by id, a reference check, a bulk import. [`helpers!`] writes them once as methods
//! of a backend type that has the primitives every backend has (`reader`, `begin`, `query`,
//! `query_as`, `query_scalar`, `persistent`) and says how it prepares and finishes an import
//! (`lock_for_import`, `move_sequence`).

macro_rules! helpers {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::{Database, FromRow, QueryBuilder};
            use $crate::store::filter::Filters;
            use $crate::store::sql::{Table, insert_chunks, list_queries};
            use $crate::store::{Listing, Page, StoreResult, retry};

            type Row = <$db as Database>::Row;

            impl $store {
                /// The row `sql` selects by id (`$1`), retried like every read.
                async fn by_id<T>(
                    &self,
                    op: &'static str,
                    sql: &'static str,
                    id: i64,
                ) -> StoreResult<Option<T>>
                where
                    T: for<'r> FromRow<'r, Row> + Send + Unpin,
                {
                    retry::read(op, move || async move {
                        Ok(self
                            .query_as(sql)
                            .bind(id)
                            .fetch_optional(&mut *self.reader().await?)
                            .await?)
                    })
                    .await
                }

                /// One page of a list and the number of rows its filters match.
                async fn list<T>(
                    &self,
                    op: &'static str,
                    (table, select): (&'static str, &'static str),
                    filters: &Filters,
                    page: Page,
                ) -> StoreResult<Listing<T>>
                where
                    T: for<'r> FromRow<'r, Row> + Send + Unpin,
                {
                    retry::read(op, move || async move {
                        let (mut count, mut rows) =
                            list_queries::<$db>(table, select, filters, page);
                        let total = count
                            .build_query_scalar()
                            .persistent(self.persistent())
                            .fetch_one(&mut *self.reader().await?)
                            .await?;
                        let items = rows
                            .build_query_as()
                            .persistent(self.persistent())
                            .fetch_all(&mut *self.reader().await?)
                            .await?;
                        Ok(Listing { items, total })
                    })
                    .await
                }

                /// Deletes the row `sql` names by id; whether there was one.
                async fn delete_by_id(
                    &self,
                    op: &'static str,
                    sql: &'static str,
                    id: i64,
                ) -> StoreResult<bool> {
                    retry::write(op, move || async move {
                        let mut tx = self.begin().await?;
                        let deleted = self.query(sql).bind(id).execute(&mut *tx).await?;
                        tx.commit().await?;
                        Ok(deleted.rows_affected() > 0)
                    })
                    .await
                }

                /// Whether the row `sql` selects by id exists, inside a write.
                async fn exists(
                    &self,
                    conn: &mut <$db as Database>::Connection,
                    sql: &'static str,
                    id: i64,
                ) -> StoreResult<bool> {
                    let found: Option<i64> =
                        self.query_scalar(sql).bind(id).fetch_optional(conn).await?;
                    Ok(found.is_some())
                }

                /// Upserts `rows` into `table` in chunks, all or nothing, keeping their ids
                /// and moving the table's id sequence past them.
                async fn import<T: Sync>(
                    &self,
                    op: &'static str,
                    table: Table,
                    rows: &[T],
                    upsert: fn(&[T]) -> QueryBuilder<$db>,
                ) -> StoreResult<u64> {
                    retry::write(op, move || async move {
                        let mut tx = self.begin().await?;
                        self.lock_for_import(&mut tx, table).await?;
                        for chunk in insert_chunks(rows) {
                            upsert(chunk)
                                .build()
                                .persistent(self.persistent())
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| table.refusal(e))?;
                        }
                        self.move_sequence(&mut tx, table).await?;
                        if let Table::Events = table {
                            self.query($crate::store::sql::RECOUNT_CLICKS)
                                .execute(&mut *tx)
                                .await?;
                        }
                        tx.commit().await?;
                        Ok(rows.len() as u64)
                    })
                    .await
                }
            }
        };
    };
}

pub(crate) use helpers;
