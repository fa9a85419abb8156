//! Store tests. The conformance suite runs against SQLite always, and
//! against PostgreSQL when `WAXWING_TEST_POSTGRES_URL` is set (required when
//! `CI=true`); `sqlite.rs` holds what only makes sense for a SQLite file.

mod archive;
mod conformance;
mod sqlite;
mod support;

use std::sync::Arc;

use support::TestDb;

/// Destroys the database of a finished test, even if the test panicked;
/// the panic is re-raised afterwards.
async fn finish(db: Arc<TestDb>, outcome: Result<(), tokio::task::JoinError>) {
    let db = Arc::into_inner(db).expect("test task finished");
    db.destroy().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Runs conformance test `$name` on database `$db` in its own task, so that a
/// panic cannot skip the cleanup in [`finish`].
macro_rules! run {
    ($db:expr, $name:ident) => {{
        let db = std::sync::Arc::new($db);
        let task = tokio::spawn({
            let db = std::sync::Arc::clone(&db);
            async move { crate::conformance::$name(&db).await }
        });
        crate::finish(db, task.await).await;
    }};
}

/// For each conformance test, generates `sqlite_conformance::NAME` and
/// `postgres_conformance::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    run!(crate::TestDb::sqlite().await, $name);
                }
            )*
        }
        mod postgres_conformance {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = crate::TestDb::postgres(stringify!($name)).await {
                        run!(db, $name);
                    }
                }
            )*
        }
    };
}

conformance!(
    create_then_read_back,
    values_round_trip_exactly,
    list_is_sorted_and_per_domain,
    create_existing_fails,
    create_is_atomic,
    duplicate_hash_rejected,
    set_credentials_replaces_all,
    set_credentials_unknown_account,
    set_credentials_is_atomic,
    remove_cascades,
    concurrent_creates,
    concurrent_password_changes,
    reopen_is_a_no_op,
    roster_put_get_update_remove,
    roster_version_increments_and_persists,
    roster_groups_round_trip,
    pending_in_set_replace_clear_order,
    concurrent_roster_puts,
    offline_order_and_timestamps,
    offline_quota,
    concurrent_offline_pushes,
    offline_delete_by_ids,
    account_data_crud,
    unknown_account,
    remove_account_removes_im_data,
    archive_paging,
    archive_filters,
    archive_fulltext,
    archive_retention,
    archive_removed_with_account,
    archive_large_batch,
);
