//! Customer batches end to end: a local folder always, and the S3 server
//! that `scripts/test` starts (moto) when there is one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use pulse::engine::session::pulse_context;

use crate::support::{error, rows, table};

/// Where a test's batches live.
struct Place {
    /// The `LOCATION` of the table.
    location: String,
    /// The `OPTIONS (…)` clause, if any.
    options: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    name: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.store
            .put(&self.prefix.child_path(key), bytes.into())
            .await
            .unwrap();
    }

    async fn put_rows(&self, key: &str, columns: Vec<(&str, ArrayRef)>) {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        self.put(key, bytes).await;
    }

    async fn ctx(&self) -> SessionContext {
        let ctx = pulse_context();
        for (name, view) in [("customers", "latest"), ("customers_history", "history")] {
            let mut options = format!("'customers.view' '{view}'");
            if !self.options.is_empty() {
                options = format!("{options}, {}", self.options);
            }
            ctx.sql(&format!(
                "CREATE EXTERNAL TABLE {name} STORED AS CUSTOMER_BATCHES LOCATION '{}' OPTIONS ({options})",
                self.location
            ))
            .await
            .unwrap();
        }
        ctx
    }
}

trait ChildPath {
    fn child_path(&self, key: &str) -> Path;
}

impl ChildPath for Path {
    /// The object `key` below this path, named exactly `key` (a `%` in it is
    /// a `%` in the object's name, as a writer such as Spark makes it).
    fn child_path(&self, key: &str) -> Path {
        Path::parse(format!("{self}/{key}")).unwrap()
    }
}

/// A local folder (as a plain path, or as a `file://` URL), and the S3
/// server when `scripts/test` runs one.
fn places() -> Vec<Place> {
    let mut out = Vec::new();
    for as_url in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        out.push(Place {
            location: if as_url {
                format!("file://{}/", root.display())
            } else {
                root.display().to_string()
            },
            options: String::new(),
            store: Arc::new(object_store::local::LocalFileSystem::new()),
            prefix: Path::from_filesystem_path(&root).unwrap(),
            name: if as_url { "file-url" } else { "local" },
            _dir: Some(dir),
        });
    }
    match (
        std::env::var("PULSE_TEST_S3_ENDPOINT"),
        std::env::var("PULSE_TEST_S3_BUCKET"),
    ) {
        (Ok(endpoint), Ok(bucket)) => {
            static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let prefix = format!(
                "customers-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let store = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(&bucket)
                .with_endpoint(&endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .unwrap();
            out.push(Place {
                location: format!("s3://{bucket}/{prefix}/"),
                options: format!(
                    "'aws.endpoint' '{endpoint}', 'aws.allow_http' 'true', 'aws.region' 'us-east-1', \
                     'aws.access_key_id' 'test', 'aws.secret_access_key' 'test'"
                ),
                store: Arc::new(store),
                prefix: Path::from(prefix),
                name: "s3",
                _dir: None,
            });
        }
        _ => eprintln!(
            "\n*** SKIPPED the S3 half of this test: PULSE_TEST_S3_ENDPOINT is not set. \
             Run scripts/test to start the S3 server and run it. ***\n"
        ),
    }
    out
}

fn text(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn lists(values: &[&[&str]]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in values {
        for v in *row {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

const B1: &str = "batch_id=20261101T000000Z";
const B2: &str = "batch_id=20261101T120000Z";
const B3: &str = "batch_id=20261102T000000Z";

/// Three batches with restated and changed customers, duplicates within a
/// batch (within one object, and across two), and both industry types.
async fn three_batches(place: &Place) {
    place
        .put_rows(
            &format!("{B1}/part-0.parquet"),
            vec![
                ("customer_id", text(&["c1", "c2", "c3", "c2"])),
                ("company_name", text(&["Acme", "Beta", "Cobalt", "Beta2"])),
                (
                    "specialised_industries",
                    text(&["Cosmetics & Pharmaceuticals", "Food", "oil and gas", "Food, Cleaning"]),
                ),
            ],
        )
        .await;
    place
        .put_rows(
            &format!("{B2}/part-0.parquet"),
            vec![
                ("customer_id", text(&["c1", "c2"])),
                ("company_name", text(&["Acme", "Beta"])),
                (
                    "specialised_industries",
                    text(&["Cosmetics & Pharmaceuticals", "Polymers"]),
                ),
            ],
        )
        .await;
    place
        .put_rows(
            &format!("{B2}/part-1.parquet"),
            vec![
                ("customer_id", text(&["c4"])),
                ("company_name", text(&["Delta"])),
                ("specialised_industries", lists(&[&["Colors", "Mining"]])),
                ("extra", text(&["ignored"])),
            ],
        )
        .await;
    place
        .put_rows(
            &format!("{B3}/part-0.parquet"),
            vec![
                ("customer_id", text(&["c3", "c5"])),
                ("company_name", text(&["Cobalt", "Echo"])),
                ("specialised_industries", text(&["Agriculture", "Lubricants"])),
            ],
        )
        .await;
    place
        .put_rows(
            &format!("{B3}/part-1.parquet"),
            vec![
                ("customer_id", text(&["c5"])),
                ("company_name", text(&["Echo2"])),
                ("specialised_industries", text(&["Lubricants; Construction"])),
            ],
        )
        .await;
    place.put(&format!("{B3}/_SUCCESS"), Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_deduplicate_to_the_newest_version_and_the_last_row() {
    for place in places() {
        three_batches(&place).await;
        let ctx = place.ctx().await;
        let sql = "SELECT customer_id, company_name, specialised_industries, batch_id FROM customers ORDER BY 1";
        let expected = [
            "c1, Acme, [Cosmetics & Pharmaceuticals], 20261101T120000Z",
            "c2, Beta, [Polymers], 20261101T120000Z",
            "c3, Cobalt, [Agriculture], 20261102T000000Z",
            "c4, Delta, [Colors, Mining], 20261101T120000Z",
            "c5, Echo2, [Lubricants; Construction], 20261102T000000Z",
        ];
        assert_eq!(rows(&ctx, sql).await, expected, "{}", place.name);
        // deterministic: the same objects give the same table
        assert_eq!(rows(&ctx, sql).await, expected, "{}", place.name);

        let analyzed = table(&ctx, "EXPLAIN ANALYZE SELECT count(*) FROM customers").await;
        for metric in [
            "duplicate_rows_in_batch=2",
            "superseded_rows=3",
            "rows_read=10",
            "batches_read=3",
            "files_read=5",
        ] {
            assert!(analyzed.contains(metric), "{}: {metric} in {analyzed}", place.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_every_batchs_version_with_its_validity() {
    for place in places() {
        three_batches(&place).await;
        let ctx = place.ctx().await;
        let got = rows(
            &ctx,
            "SELECT customer_id, company_name, batch_id, valid_from, valid_to FROM customers_history ORDER BY 1, 4",
        )
        .await;
        let expected = [
            "c1, Acme, 20261101T000000Z, 2026-11-01T00:00:00Z, 2026-11-01T12:00:00Z",
            "c1, Acme, 20261101T120000Z, 2026-11-01T12:00:00Z, ",
            "c2, Beta2, 20261101T000000Z, 2026-11-01T00:00:00Z, 2026-11-01T12:00:00Z",
            "c2, Beta, 20261101T120000Z, 2026-11-01T12:00:00Z, ",
            "c3, Cobalt, 20261101T000000Z, 2026-11-01T00:00:00Z, 2026-11-02T00:00:00Z",
            "c3, Cobalt, 20261102T000000Z, 2026-11-02T00:00:00Z, ",
            "c4, Delta, 20261101T120000Z, 2026-11-01T12:00:00Z, ",
            "c5, Echo2, 20261102T000000Z, 2026-11-02T00:00:00Z, ",
        ];
        assert_eq!(got, expected, "{}", place.name);
        // a point-in-time join: the version valid at 2026-11-01T18:00
        let at = rows(
            &ctx,
            "SELECT customer_id, company_name FROM customers_history \
             WHERE valid_from <= '2026-11-01T18:00:00Z' AND (valid_to IS NULL OR valid_to > '2026-11-01T18:00:00Z') ORDER BY 1",
        )
        .await;
        assert_eq!(
            at,
            ["c1, Acme", "c2, Beta", "c3, Cobalt", "c4, Delta"],
            "{}",
            place.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn industries_explode_from_the_customers_table() {
    for place in places() {
        three_batches(&place).await;
        let ctx = place.ctx().await;
        let got = rows(
            &ctx,
            "SELECT industry, is_known, count(*) FROM explode_industries('customers') GROUP BY 1, 2 ORDER BY 1",
        )
        .await;
        let expected = [
            "Agriculture, true, 1",
            "Colours, true, 1",
            "Construction, true, 1",
            "Cosmetics, true, 1",
            "Lubricants, true, 1",
            "Mining, false, 1",
            "Pharmaceuticals, true, 1",
            "Polymer, true, 1",
        ];
        assert_eq!(got, expected, "{}", place.name);
        let c4 = rows(
            &ctx,
            "SELECT normalize_industries(specialised_industries) FROM customers WHERE customer_id = 'c4'",
        )
        .await;
        assert_eq!(c4, ["[Colours, Mining]"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_id_lower_bound_prunes_older_batches() {
    for place in places() {
        three_batches(&place).await;
        let ctx = place.ctx().await;
        let sql = "SELECT customer_id, batch_id FROM customers WHERE batch_id >= '20261102' ORDER BY 1";
        let plan = table(&ctx, &format!("EXPLAIN {sql}")).await;
        assert!(plan.contains("batches=1, batches_pruned=2"), "{}: {plan}", place.name);
        assert_eq!(rows(&ctx, sql).await, ["c3, 20261102T000000Z", "c5, 20261102T000000Z"]);
        let history = "SELECT customer_id, valid_to FROM customers_history WHERE batch_id >= '20261101T12' ORDER BY 1";
        assert_eq!(rows(&ctx, history).await.len(), 5, "{}", place.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_are_errors_that_name_the_object_or_batch() {
    for place in places() {
        three_batches(&place).await;
        let ctx = place.ctx().await;
        place
            .put("batch_id=20261103T000000Z/bad.parquet", b"this is not parquet".to_vec())
            .await;
        let err = error(&ctx, "SELECT * FROM customers").await;
        assert!(
            err.contains("batch_id=20261103T000000Z/bad.parquet") && err.contains("not a readable Parquet file"),
            "{}: {err}",
            place.name
        );
    }
    for place in places() {
        three_batches(&place).await;
        let ctx = place.ctx().await;
        place
            .put_rows(
                "batch_id=20261104T000000Z/part-0.parquet",
                vec![("id", text(&["c9"])), ("company_name", text(&["Nine"]))],
            )
            .await;
        let err = error(&ctx, "SELECT count(*) FROM customers").await;
        assert!(
            err.contains("batch '20261104T000000Z'")
                && err.contains("has no 'customer_id' column (it has id, company_name)"),
            "{}: {err}",
            place.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_prefix_is_an_error_naming_it_not_an_empty_table() {
    for place in places() {
        let ctx = place.ctx().await;
        for table in ["customers", "customers_history"] {
            let err = error(&ctx, &format!("SELECT count(*) FROM {table}")).await;
            assert!(
                err.contains(&format!("'{}'", place.location)) && err.contains("holds no customer batch"),
                "{}: {err}",
                place.name
            );
        }
        // a prefix of hidden objects only is just as empty
        place.put("_SUCCESS", Vec::new()).await;
        let err = error(&ctx, "SELECT count(*) FROM customers").await;
        assert!(err.contains("holds no customer batch"), "{}: {err}", place.name);
    }
}

/// One customer row file: `customer_id`, and industries as text.
async fn one_customer(place: &Place, key: &str, id: ArrayRef, industries: &str) {
    place
        .put_rows(
            key,
            vec![("customer_id", id), ("specialised_industries", text(&[industries]))],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_batch_ids_order_as_integers_and_ambiguities_are_errors() {
    for place in places() {
        one_customer(&place, "batch_id=9/part-0.parquet", text(&["c1"]), "Food").await;
        one_customer(&place, "batch_id=10/part-0.parquet", text(&["c1"]), "Polymer").await;
        let ctx = place.ctx().await;
        assert_eq!(
            rows(&ctx, "SELECT batch_id, specialised_industries FROM customers").await,
            ["10, [Polymer]"],
            "{}: batch 10 is newer than batch 9",
            place.name
        );
        // a batch holding only _SUCCESS is a batch being written, not no batch
        place.put("batch_id=11/_SUCCESS", Vec::new()).await;
        let err = error(&ctx, "SELECT * FROM customers").await;
        assert!(
            err.contains("'batch_id=11' holds no data file"),
            "{}: {err}",
            place.name
        );
        one_customer(&place, "batch_id=11/part-0.parquet", text(&["c1"]), "Food").await;
        // an integer id beside a text id cannot be ordered
        one_customer(&place, "batch_id=abc/part-0.parquet", text(&["c1"]), "Food").await;
        let err = error(&ctx, "SELECT * FROM customers").await;
        assert!(
            err.contains("'10' and 'abc'") || err.contains("'11' and 'abc'") || err.contains("'9' and 'abc'"),
            "{}: {err}",
            place.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_names_are_percent_decoded_once_and_odd_characters_read() {
    for place in places() {
        // as Spark writes a time partition, and a folder with characters that
        // URLs encode
        one_customer(
            &place,
            "batch_id=2026-11-18T12%3A00%3A00Z/part-0.parquet",
            text(&["c1"]),
            "Food",
        )
        .await;
        one_customer(
            &place,
            "batch_id=2026-11-19T12%3A00%3A00Z/ü #?%20 x.parquet",
            text(&["c1"]),
            "Polymer",
        )
        .await;
        let ctx = place.ctx().await;
        assert_eq!(
            rows(&ctx, "SELECT batch_id, specialised_industries FROM customers").await,
            ["2026-11-19T12:00:00Z, [Polymer]"],
            "{}",
            place.name
        );
        assert_eq!(
            rows(
                &ctx,
                "SELECT CAST(valid_from AS VARCHAR) FROM customers_history ORDER BY 1"
            )
            .await,
            ["2026-11-18T12:00:00Z", "2026-11-19T12:00:00Z"],
            "{}",
            place.name
        );
        // a location below a folder with a space and a non-ASCII letter: a URL
        // spells them percent-encoded, a plain path as they are
        one_customer(&place, "sub dir ü/batch_id=1/part-0.parquet", text(&["c7"]), "Food").await;
        let below = match place.name {
            "local" => format!("{}/sub dir ü", place.location),
            _ => format!("{}sub%20dir%20%C3%BC/", place.location),
        };
        let options = if place.options.is_empty() {
            String::new()
        } else {
            format!(" OPTIONS ({})", place.options)
        };
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE below STORED AS CUSTOMER_BATCHES LOCATION '{below}'{options}"
        ))
        .await
        .unwrap();
        assert_eq!(
            rows(&ctx, "SELECT customer_id FROM below").await,
            ["c7"],
            "{}: {below}",
            place.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_columns_of_the_wrong_type_are_errors_naming_the_file() {
    use datafusion::arrow::array::{DictionaryArray, Float64Array, Int64Array};
    use datafusion::arrow::datatypes::Int32Type;
    for place in places() {
        // an integer id reads as its decimal text; dictionary-encoded text reads as text
        let dictionary: DictionaryArray<Int32Type> = vec!["Food"].into_iter().collect();
        place
            .put_rows(
                "batch_id=1/part-0.parquet",
                vec![
                    ("customer_id", Arc::new(Int64Array::from(vec![125])) as ArrayRef),
                    ("specialised_industries", Arc::new(dictionary) as ArrayRef),
                ],
            )
            .await;
        let ctx = place.ctx().await;
        assert_eq!(
            rows(&ctx, "SELECT customer_id, specialised_industries FROM customers").await,
            ["125, [Food]"],
            "{}",
            place.name
        );
        // a float id would match no order
        one_customer(
            &place,
            "batch_id=2/part-0.parquet",
            Arc::new(Float64Array::from(vec![1.0])),
            "Food",
        )
        .await;
        let err = error(&ctx, "SELECT * FROM customers").await;
        assert!(
            err.contains("batch_id=2/part-0.parquet") && err.contains("column 'customer_id' is Float64"),
            "{}: {err}",
            place.name
        );
        // without industries, nothing can be attributed
        place
            .put_rows("batch_id=2/part-0.parquet", vec![("customer_id", text(&["c2"]))])
            .await;
        let err = error(&ctx, "SELECT * FROM customers").await;
        assert!(
            err.contains("batch_id=2/part-0.parquet") && err.contains("has no 'specialised_industries' column"),
            "{}: {err}",
            place.name
        );
        place
            .put_rows(
                "batch_id=2/part-0.parquet",
                vec![
                    ("customer_id", text(&["c2"])),
                    (
                        "specialised_industries",
                        Arc::new(Int64Array::from(vec![3])) as ArrayRef,
                    ),
                ],
            )
            .await;
        let err = error(&ctx, "SELECT * FROM customers").await;
        assert!(
            err.contains("column 'specialised_industries' is Int64"),
            "{}: {err}",
            place.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_batch_folders_objects_order_by_last_modified() {
    let place = places().remove(0);
    let dir = std::path::PathBuf::from(&place.location);
    // "b.parquet" is written last but modified first
    for (key, name, age_s) in [
        ("a.parquet", "Older", 200u64),
        ("b.parquet", "Oldest", 300),
        ("c.parquet", "Newest", 100),
    ] {
        place
            .put_rows(
                key,
                vec![
                    ("customer_id", text(&["c1"])),
                    ("company_name", text(&[name])),
                    ("specialised_industries", text(&["Food"])),
                ],
            )
            .await;
        let file = std::fs::File::options().write(true).open(dir.join(key)).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
    }
    let ctx = place.ctx().await;
    assert_eq!(
        rows(&ctx, "SELECT company_name, batch_id FROM customers").await,
        ["Newest, c.parquet"]
    );
    let order = rows(&ctx, "SELECT company_name FROM customers_history ORDER BY valid_from").await;
    assert_eq!(order, ["Oldest", "Older", "Newest"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_locations_are_errors_not_hangs() {
    let ctx = pulse_context();
    let err = error(
        &ctx,
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMER_BATCHES LOCATION '/no/such/folder'",
    )
    .await;
    assert!(
        err.contains("'/no/such/folder'") && err.contains("cannot be read"),
        "{err}"
    );
    let err = error(
        &ctx,
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMER_BATCHES LOCATION 's3://b/p/' OPTIONS ('aws.colour' 'blue')",
    )
    .await;
    assert!(
        err.contains("'aws.colour'") && err.contains("not an S3 setting"),
        "{err}"
    );
    let err = error(
        &ctx,
        "CREATE EXTERNAL TABLE c (a INT) STORED AS CUSTOMER_BATCHES LOCATION '/tmp'",
    )
    .await;
    assert!(err.contains("columns are fixed"), "{err}");
    // a server that refuses connections
    let started = Instant::now();
    ctx.sql(
        "CREATE EXTERNAL TABLE c STORED AS CUSTOMER_BATCHES LOCATION 's3://b/p/' \
         OPTIONS ('aws.endpoint' 'http://127.0.0.1:1', 'aws.allow_http' 'true', 'aws.region' 'us-east-1', \
         'aws.access_key_id' 'k', 'aws.secret_access_key' 's')",
    )
    .await
    .unwrap();
    let err = error(&ctx, "SELECT * FROM c").await;
    assert!(
        err.contains("s3://b/p/") && err.contains("cannot list the batches"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    // a missing bucket on a real server
    if let Ok(endpoint) = std::env::var("PULSE_TEST_S3_ENDPOINT") {
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE m STORED AS CUSTOMER_BATCHES LOCATION 's3://no-such-bucket/p/' \
             OPTIONS ('aws.endpoint' '{endpoint}', 'aws.allow_http' 'true', 'aws.region' 'us-east-1', \
             'aws.access_key_id' 'test', 'aws.secret_access_key' 'test')"
        ))
        .await
        .unwrap();
        let err = error(&ctx, "SELECT * FROM m").await;
        assert!(
            err.contains("s3://no-such-bucket/p/") && err.contains("cannot list"),
            "{err}"
        );
    }
}

#[test]
fn list_typed_industries_schema() {
    // the table's industries column is list<utf8> whatever the objects hold
    let schema = pulse::engine::customers::dedup::table_schema(pulse::engine::customers::CustomersView::Latest);
    assert_eq!(
        schema.field_with_name("specialised_industries").unwrap().data_type(),
        &DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_server_that_refuses_the_credentials_is_an_error_naming_the_location() {
    let env = |k: &str| std::env::var(k).ok();
    let (Some(endpoint), Some(bucket), Some(key_id), Some(secret)) = (
        env("PULSE_TEST_S3_AUTH_ENDPOINT"),
        env("PULSE_TEST_S3_AUTH_BUCKET"),
        env("PULSE_TEST_S3_AUTH_KEY_ID"),
        env("PULSE_TEST_S3_AUTH_SECRET"),
    ) else {
        eprintln!(
            "\n*** SKIPPED the signature-checking S3 test: PULSE_TEST_S3_AUTH_ENDPOINT is not set. \
             Run scripts/test to start it. ***\n"
        );
        return;
    };
    // a batch written with the right key
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(&key_id)
        .with_secret_access_key(&secret)
        .build()
        .unwrap();
    let place = Place {
        location: format!("s3://{bucket}/signed/"),
        options: String::new(),
        store: Arc::new(store),
        prefix: Path::from("signed"),
        name: "s3-auth",
        _dir: None,
    };
    one_customer(&place, "batch_id=1/part-0.parquet", text(&["c1"]), "Food").await;
    for (key, secret, refused) in [
        (key_id.as_str(), secret.as_str(), None),
        (key_id.as_str(), "not-the-secret", Some("SignatureDoesNotMatch")),
        ("AKIAUNKNOWN", "whatever", Some("InvalidAccessKeyId")),
    ] {
        let ctx = pulse_context();
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE c STORED AS CUSTOMER_BATCHES LOCATION 's3://{bucket}/signed/' \
             OPTIONS ('aws.endpoint' '{endpoint}', 'aws.allow_http' 'true', 'aws.region' 'us-east-1', \
             'aws.access_key_id' '{key}', 'aws.secret_access_key' '{secret}')"
        ))
        .await
        .unwrap();
        match refused {
            None => assert_eq!(rows(&ctx, "SELECT customer_id FROM c").await, ["c1"]),
            Some(why) => {
                let err = error(&ctx, "SELECT customer_id FROM c").await;
                assert!(
                    err.contains(&format!("'s3://{bucket}/signed/'")) && err.contains(why),
                    "{why}: {err}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_file_cut_short_is_an_error_naming_it() {
    for place in places() {
        one_customer(&place, "batch_id=1/part-0.parquet", text(&["c1"]), "Food").await;
        // the same file without its footer, as a writer that died leaves it
        let whole = place
            .store
            .get(&place.prefix.child_path("batch_id=1/part-0.parquet"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        place
            .put("batch_id=2/part-0.parquet", whole[..whole.len() - 8].to_vec())
            .await;
        let ctx = place.ctx().await;
        let err = error(&ctx, "SELECT * FROM customers").await;
        assert!(
            err.contains("batch_id=2/part-0.parquet") && err.contains("not a readable Parquet file"),
            "{}: {err}",
            place.name
        );
    }
}
