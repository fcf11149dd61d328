//! Loading the versioned views.

use pulse::engine::session::pulse_context;
use pulse::engine::views::{EMBEDDED_VIEWS, ViewFile, load_views, load_views_from};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_that_references_something_missing_names_its_file() {
    // no orders and no customers tables
    let ctx = pulse_context();
    let err = load_views(&ctx).await.unwrap_err().to_string();
    assert!(err.starts_with("view file sql/views/orders_clean_v1.sql:"), "{err}");
    assert!(err.contains("orders"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unversioned_name_follows_the_latest_version() {
    let ctx = pulse_context();
    ctx.sql("CREATE TABLE t AS VALUES (1)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let files = [
        ViewFile {
            name: "answer",
            version: 1,
            file: "sql/views/answer_v1.sql",
            sha256: "",
            sql: "SELECT 1 AS v",
        },
        ViewFile {
            name: "answer",
            version: 2,
            file: "sql/views/answer_v2.sql",
            sha256: "",
            sql: "SELECT 2 AS v;",
        },
    ];
    load_views_from(&ctx, &files).await.unwrap();
    let got = crate::support::rows(&ctx, "SELECT v FROM answer").await;
    assert_eq!(got, ["2"]);
    let got = crate::support::rows(&ctx, "SELECT view, latest FROM pulse_views ORDER BY view").await;
    assert_eq!(got, ["answer_v1, false", "answer_v2, true"]);
    // the embedded views are the lock's, in its order
    assert_eq!(EMBEDDED_VIEWS[0].name, "orders_clean");
}
