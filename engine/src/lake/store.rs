//! Where the lake lives and how its Delta tables are opened: one root (a
//! local folder, a `file://` URL or `s3://bucket/prefix/`), one folder per
//! table below it, all through Pulse's own `object_store` (the one
//! [`crate::storage`] builds from `AWS_*` and `aws.*`), never a second S3
//! client.
//!
//! Each topic partition's ingest progress is a Delta transaction action
//! (`txn`) with the app id [`app_id`] and, as its version, the next offset
//! to ingest; it is written in the same commit as the rows, so the
//! committed offsets and the rows can never disagree.
//!
//! One lake holds one topic: the orders tables record it as the table
//! property [`TOPIC_PROPERTY`] when they are created, and ingesting or
//! reading them for another topic is an error (offsets of two topics
//! would be confused).
//!
//! What must stay true: a table that does not exist yet is created with
//! the columns of [`LakeTable::schema`], and an existing one whose columns
//! differ, or that holds another topic, is an error naming the table, never
//! appended to blindly.

use std::collections::BTreeMap;
use std::sync::{Arc, Once};

use datafusion::execution::runtime_env::RuntimeEnv;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::logstore::{LogStore, LogStoreFactory, StorageConfig, default_logstore, logstore_factories};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore};
use url::Url;

use super::tables::LakeTable;
use crate::error::{PulseError, Result};
use crate::storage;

/// The Delta table property (in the table's `configuration`) naming the
/// Kafka topic whose messages the orders tables hold.
pub const TOPIC_PROPERTY: &str = "pulse.topic";

/// The lake: a root location and the store that holds it.
#[derive(Debug, Clone)]
pub struct Lake {
    display: String,
    root: Url,
    store: Arc<dyn ObjectStore>,
    /// The root as it travels to another process.
    shared: storage::SharedLocation,
}

impl Lake {
    /// Opens the lake at `location` (a local folder, which is created if
    /// missing, a `file://` URL or `s3://bucket/prefix/`), with `aws.*`
    /// options for S3. No table is read or created yet.
    pub fn open(runtime: &RuntimeEnv, location: &str, aws: &BTreeMap<String, String>) -> Result<Self> {
        let invalid = |reason: String| PulseError::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        let folder = match location.strip_prefix("file://") {
            Some(path) => Some(
                percent_encoding::percent_decode_str(path)
                    .decode_utf8()
                    .map_err(|_| invalid("the path is not UTF-8 once percent-decoded".into()))?
                    .into_owned(),
            ),
            None if location.contains("://") => None,
            None => Some(location.to_string()),
        };
        if let Some(folder) = folder {
            std::fs::create_dir_all(&folder)
                .map_err(|e| invalid(format!("the lake's folder cannot be created: {e}")))?;
        }
        let resolved = storage::resolve(runtime, location, aws)?;
        Self::at(location, resolved)
    }

    /// Opens the lake another process opened, from what its plan carries
    /// ([`Lake::shared`]), with this process's credentials
    /// ([`storage::reopen`]).
    pub fn reopen(runtime: &RuntimeEnv, shared: &storage::SharedLocation) -> Result<Self> {
        Self::at(&shared.display, storage::reopen(runtime, shared)?)
    }

    fn at(location: &str, resolved: storage::Location) -> Result<Self> {
        let invalid = |reason: String| PulseError::InvalidLocation {
            location: location.to_string(),
            reason,
        };
        let mut root = Url::parse(resolved.store_url.as_str()).map_err(|e| invalid(e.to_string()))?;
        let prefix = resolved.prefix.as_ref();
        root.set_path(&if prefix.is_empty() {
            "/".to_string()
        } else {
            format!("/{prefix}/")
        });
        register_log_stores();
        Ok(Self {
            display: location.to_string(),
            root,
            shared: resolved.shared(),
            store: resolved.store,
        })
    }

    /// The root as it travels to another process.
    pub fn shared(&self) -> storage::SharedLocation {
        self.shared.clone()
    }

    /// The lake's root as the user gave it.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The root URL, ending in `/`.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The URL of `table`'s folder, ending in `/`.
    pub fn table_url(&self, table: LakeTable) -> Url {
        let mut url = self.root.clone();
        url.set_path(&format!("{}{}/", self.root.path(), table.name()));
        url
    }

    fn builder(&self, table: LakeTable) -> Result<DeltaTableBuilder> {
        let url = self.table_url(table);
        if let Ok(folder) = url.to_file_path() {
            // delta-rs refuses a local table location that does not exist
            std::fs::create_dir_all(&folder)
                .map_err(|e| self.error(table, format!("cannot create {}: {e}", folder.display())))?;
        }
        DeltaTableBuilder::from_url(url.clone())
            .map(|b| b.with_storage_backend(Arc::clone(&self.store), url))
            .map_err(|e| self.error(table, e))
    }

    /// `table` at its newest version, or `None` if nothing has created it.
    pub async fn load(&self, table: LakeTable) -> Result<Option<DeltaTable>> {
        let mut delta = self.builder(table)?.build().map_err(|e| self.error(table, e))?;
        match delta.load().await {
            Ok(()) => {
                self.check_columns(table, &delta)?;
                Ok(Some(delta))
            }
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(self.error(table, e)),
        }
    }

    /// `table` at its newest version, created empty if missing.
    pub async fn open_or_create(&self, table: LakeTable) -> Result<DeltaTable> {
        self.open_or_create_for(table, None).await
    }

    /// `table` (one of the orders tables) for the messages of `topic`: at
    /// its newest version, created empty if missing and marked with the
    /// topic; an error if it holds another topic.
    pub async fn open_or_create_for_topic(&self, table: LakeTable, topic: &str) -> Result<DeltaTable> {
        let delta = self.open_or_create_for(table, Some(topic)).await?;
        self.check_topic(table, &delta, topic)?;
        Ok(delta)
    }

    /// Checks that `delta` (one of the orders tables) holds `topic`'s
    /// messages. A table without the property (made before Pulse recorded
    /// it) is taken as it is.
    pub fn check_topic(&self, table: LakeTable, delta: &DeltaTable, topic: &str) -> Result<()> {
        let snapshot = delta.snapshot().map_err(|e| self.error(table, e))?;
        match snapshot.metadata().configuration().get(TOPIC_PROPERTY) {
            Some(held) if held != topic => Err(PulseError::Lake {
                table: self.table_url(table).to_string(),
                message: format!(
                    "it holds the Kafka topic '{held}', not '{topic}': one lake holds one topic \
                     (give each topic a lake of its own)"
                ),
            }),
            _ => Ok(()),
        }
    }

    async fn open_or_create_for(&self, table: LakeTable, topic: Option<&str>) -> Result<DeltaTable> {
        if let Some(delta) = self.load(table).await? {
            return Ok(delta);
        }
        let columns: StructType = table
            .schema()
            .as_ref()
            .try_into_kernel()
            .map_err(|e| self.error(table, e))?;
        let delta = self.builder(table)?.build().map_err(|e| self.error(table, e))?;
        let created = delta
            .create()
            .with_table_name(table.name())
            .with_columns(columns.fields().cloned())
            .with_partition_columns(table.partition_columns().iter().copied())
            // a property of Pulse's own, which Delta's table properties lack
            .with_raise_if_key_not_exists(false)
            .with_configuration(topic.map(|t| (TOPIC_PROPERTY, Some(t))))
            // two ingests starting at once: the second finds the table made
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(|e| self.error(table, e))?;
        Ok(created)
    }

    /// Checks that an existing table has the columns Pulse writes.
    fn check_columns(&self, table: LakeTable, delta: &DeltaTable) -> Result<()> {
        let want: StructType = table
            .schema()
            .as_ref()
            .try_into_kernel()
            .map_err(|e| self.error(table, e))?;
        let have = delta.snapshot().map_err(|e| self.error(table, e))?.schema();
        let names = |s: &StructType| {
            s.fields()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect::<Vec<_>>()
        };
        if names(&want) != names(have.as_ref()) {
            return Err(PulseError::Lake {
                table: self.table_url(table).to_string(),
                message: format!(
                    "its columns are not the ones Pulse writes: it has {:?}, Pulse writes {:?}",
                    names(have.as_ref()).iter().map(|(n, _)| n).collect::<Vec<_>>(),
                    names(&want).iter().map(|(n, _)| n).collect::<Vec<_>>()
                ),
            });
        }
        Ok(())
    }

    /// The next offset to ingest of each of `partitions` of `topic`, as
    /// `delta`'s snapshot says (0 for a partition never ingested).
    pub async fn committed(
        &self,
        table: LakeTable,
        delta: &DeltaTable,
        topic: &str,
        partitions: impl IntoIterator<Item = i32>,
    ) -> Result<BTreeMap<i32, i64>> {
        let log = delta.log_store();
        let snapshot = delta.snapshot().map_err(|e| self.error(table, e))?;
        let mut committed = BTreeMap::new();
        for p in partitions {
            let version = snapshot
                .transaction_version(log.as_ref(), app_id(topic, p))
                .await
                .map_err(|e| self.error(table, e))?;
            committed.insert(p, version.unwrap_or(0));
        }
        Ok(committed)
    }

    /// A delta-rs error as Pulse reports it, naming the table.
    pub fn error(&self, table: LakeTable, e: impl std::fmt::Display) -> PulseError {
        PulseError::Lake {
            table: self.table_url(table).to_string(),
            message: e.to_string(),
        }
    }
}

/// The app id of the Delta transaction that records how far `partition` of
/// `topic` has been ingested.
pub fn app_id(topic: &str, partition: i32) -> String {
    format!("pulse-ingest/{topic}/{partition}")
}

/// delta-rs knows how to keep a log on local folders and in memory; S3 is
/// the same log over Pulse's S3 store, whose commits are conditional puts
/// (`If-None-Match`), so two writers of one version cannot both succeed.
fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(s3) = Url::parse("s3://") {
            logstore_factories().insert(s3, Arc::new(ConditionalPutLogStores));
        }
    });
}

#[derive(Debug)]
struct ConditionalPutLogStores;

impl LogStoreFactory for ConditionalPutLogStores {
    fn with_options(
        &self,
        prefixed_store: Arc<dyn ObjectStore>,
        root_store: Arc<dyn ObjectStore>,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}
