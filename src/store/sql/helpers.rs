//! What every resource does the same way on either backend: the rows by key, a row inside a
//! write, a page of a list, a write that finds its row or not, a bulk import. [`helpers!`] writes them once as methods
//! of a backend type that has the primitives every backend has (`reader`, `begin`, `query`,
//! `query_as`, `query_scalar`, `persistent`) and says how it prepares and finishes an import
//! (`lock_for_import`, `move_sequence`).

macro_rules! helpers {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::query::QueryScalar;
            use sqlx::{Database, Encode, FromRow, QueryBuilder, Type};
            use $crate::store::filter::Filters;
            use $crate::store::sql::{Table, insert_chunks, list_queries};
            use $crate::store::{Listing, Page, StoreResult, retry};

            type Row = <$db as Database>::Row;

            impl $store {
                /// Every row `sql` selects by `key` (`$1`); retried like every read.
                async fn all<T, K>(
                    &self,
                    op: &'static str,
                    sql: &'static str,
                    key: K,
                ) -> StoreResult<Vec<T>>
                where
                    T: for<'r> FromRow<'r, Row> + Send + Unpin,
                    K: for<'q> Encode<'q, $db> + Type<$db> + Copy + Send + Sync,
                {
                    retry::read(op, move || async move {
                        Ok(self
                            .query_as(sql)
                            .bind(key)
                            .fetch_all(&mut *self.reader().await?)
                            .await?)
                    })
                    .await
                }

                /// The row `sql` selects by id, inside a write.
                async fn current<T>(
                    &self,
                    conn: &mut <$db as Database>::Connection,
                    sql: &'static str,
                    id: i64,
                ) -> StoreResult<Option<T>>
                where
                    T: for<'r> FromRow<'r, Row> + Send + Unpin,
                {
                    Ok(self.query_as(sql).bind(id).fetch_optional(conn).await?)
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
                        // A list without filters reads a kept count where the backend has one.
                        let counted = Self::COUNTED
                            .iter()
                            .find(|(name, _)| *name == table)
                            .filter(|_| filters.iter().all(|(_, value)| value.is_none()))
                            .map(|(_, total)| *total);
                        let (mut count, mut paged) =
                            list_queries::<$db>(table, counted, select, filters, page);
                        let mut reader = self.reader().await?;
                        let rows: Vec<Row> = paged
                            .build()
                            .persistent(self.persistent())
                            .fetch_all(&mut *reader)
                            .await?;
                        let total = match rows.first() {
                            Some(row) => sqlx::Row::try_get(row, "total")?,
                            None => {
                                count
                                    .build_query_scalar()
                                    .persistent(self.persistent())
                                    .fetch_one(&mut *reader)
                                    .await?
                            }
                        };
                        let items = rows.iter().map(T::from_row).collect::<Result<_, _>>()?;
                        Ok(Listing { items, total })
                    })
                    .await
                }

                /// Runs the write `statement` makes (one that returns an id); whether it
                /// found a row to write.
                async fn affects<F>(&self, op: &'static str, statement: F) -> StoreResult<bool>
                where
                    F: Fn() -> QueryScalar<'static, $db, i64, <$db as Database>::Arguments> + Sync,
                {
                    let statement = &statement;
                    retry::write(op, move || async move {
                        let mut tx = self.begin().await?;
                        let found = statement().fetch_optional(&mut *tx).await?;
                        tx.commit().await?;
                        Ok(found.is_some())
                    })
                    .await
                }

                /// Upserts `rows` into `table` in chunks, inside an import's transaction.
                async fn upsert_all<T: Sync>(
                    &self,
                    conn: &mut <$db as Database>::Connection,
                    table: Table,
                    rows: &[T],
                    upsert: fn(&[T]) -> QueryBuilder<$db>,
                ) -> StoreResult<()> {
                    for chunk in insert_chunks(rows) {
                        upsert(chunk)
                            .build()
                            .persistent(self.persistent())
                            .execute(&mut *conn)
                            .await
                            .map_err(|e| table.refusal(e))?;
                    }
                    Ok(())
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
                        self.upsert_all(&mut tx, table, rows, upsert).await?;
                        self.move_sequence(&mut tx, table).await?;
                        if let Table::Events = table {
                            self.query($crate::store::sql::events::RECOUNT_CLICKS)
                                .execute(&mut *tx)
                                .await?;
                            // Imported events may replace others: counted again.
                            self.events_recounted(&mut tx).await?;
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
