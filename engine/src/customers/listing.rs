//! Which batches a customers location holds, and in which order.
//!
//! A batch is a folder `batch_id=<sortable id>/` of Parquet files (at any
//! depth below it) under the location. Batches are ordered by `batch_id`.
//! Without that folder level every object is its own batch, ordered by its
//! last-modified time (then by key). Objects whose path has a segment
//! starting with `_` or `.` (`_SUCCESS`, `.crc` files) are not data.
//!
//! A batch's time (`valid_from` of its rows) is its `batch_id` read as a
//! time when it is one (`2026-11-20T12:00:00Z`, `20261120T120000Z`,
//! `2026-11-20`, `20261120`), and otherwise the newest last-modified time
//! of its objects.
//!
//! What must stay true: the same objects always give the same batches in
//! the same order, with their files sorted by key; a location mixing batch
//! folders with loose objects is an error naming a loose object, because
//! there is no one order for both.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use object_store::ObjectMeta;
use object_store::path::Path;

use crate::error::{PulseError, Result};

/// The folder prefix that names a batch.
pub const BATCH_FOLDER_PREFIX: &str = "batch_id=";

/// One object of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFile {
    /// The object's path in its store.
    pub path: Path,
    /// Its size in bytes.
    pub size: u64,
}

/// One batch of customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The `batch_id` (or, without batch folders, the object's path below the location).
    pub id: String,
    /// The batch's time in epoch milliseconds.
    pub time_ms: i64,
    /// Its objects, sorted by path.
    pub files: Vec<BatchFile>,
}

/// Groups the objects listed under `prefix` into batches, oldest first.
pub fn group_batches(location: &str, prefix: &Path, objects: Vec<ObjectMeta>) -> Result<Vec<Batch>> {
    let mut folders: std::collections::BTreeMap<String, (Vec<BatchFile>, i64)> = Default::default();
    let mut loose: Vec<(i64, String, BatchFile)> = Vec::new();
    for meta in objects {
        let relative: Vec<String> = match meta.location.prefix_match(prefix) {
            Some(parts) => parts.map(|p| p.as_ref().to_string()).collect(),
            None => continue,
        };
        if relative.is_empty() || relative.iter().any(|p| p.starts_with('_') || p.starts_with('.')) {
            continue;
        }
        let modified = meta.last_modified.timestamp_millis();
        let file = BatchFile {
            path: meta.location,
            size: meta.size,
        };
        match relative[0].strip_prefix(BATCH_FOLDER_PREFIX) {
            Some(id) if relative.len() > 1 && !id.is_empty() => {
                let entry = folders.entry(id.to_string()).or_insert_with(|| (Vec::new(), i64::MIN));
                entry.0.push(file);
                entry.1 = entry.1.max(modified);
            }
            _ => loose.push((modified, relative.join("/"), file)),
        }
    }
    if !folders.is_empty() {
        if let Some((_, name, _)) = loose.first() {
            return Err(PulseError::InvalidLocation {
                location: location.to_string(),
                reason: format!(
                    "object '{name}' is outside any {BATCH_FOLDER_PREFIX}… folder while other objects are in one; \
                     move it into a batch folder"
                ),
            });
        }
        return Ok(folders
            .into_iter()
            .map(|(id, (mut files, newest))| {
                files.sort_by(|a, b| a.path.cmp(&b.path));
                Batch {
                    time_ms: batch_time(&id).unwrap_or(newest),
                    id,
                    files,
                }
            })
            .collect());
    }
    loose.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(loose
        .into_iter()
        .map(|(modified, name, file)| Batch {
            id: name,
            time_ms: modified,
            files: vec![file],
        })
        .collect())
}

/// A `batch_id` read as a time, when it is one.
pub fn batch_time(id: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(id) {
        return Some(t.timestamp_millis());
    }
    for format in [
        "%Y%m%dT%H%M%SZ",
        "%Y%m%dT%H%M%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H%M%SZ",
        "%Y%m%d%H%M%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(id, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    for format in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(id, format) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
        }
    }
    None
}

/// Formats epoch milliseconds for messages.
pub fn show_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str, modified_s: i64) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(path),
            last_modified: DateTime::<Utc>::from_timestamp(modified_s, 0).unwrap(),
            size: 10,
            e_tag: None,
            version: None,
        }
    }

    #[test]
    fn folders_order_by_id_and_files_by_key() {
        let objects = vec![
            meta("p/batch_id=20261102/part-1.parquet", 5),
            meta("p/batch_id=20261101/b.parquet", 9),
            meta("p/batch_id=20261102/part-0.parquet", 7),
            meta("p/batch_id=20261101/_SUCCESS", 9),
            meta("p/batch_id=20261101/nested/a.parquet", 3),
            meta("other/x.parquet", 1),
        ];
        let batches = group_batches("p", &Path::from("p"), objects).unwrap();
        let ids: Vec<&str> = batches.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["20261101", "20261102"]);
        let files: Vec<String> = batches[0].files.iter().map(|f| f.path.to_string()).collect();
        assert_eq!(
            files,
            ["p/batch_id=20261101/b.parquet", "p/batch_id=20261101/nested/a.parquet"]
        );
        assert_eq!(batches[1].time_ms, batch_time("20261102").unwrap());
    }

    #[test]
    fn ids_that_are_not_times_take_the_newest_modification() {
        let batches = group_batches(
            "p",
            &Path::from("p"),
            vec![meta("p/batch_id=b7/x", 5), meta("p/batch_id=b7/y", 8)],
        )
        .unwrap();
        assert_eq!(batches[0].time_ms, 8_000);
    }

    #[test]
    fn loose_objects_order_by_last_modified_then_key() {
        let objects = vec![meta("p/c.parquet", 2), meta("p/a.parquet", 3), meta("p/b.parquet", 2)];
        let batches = group_batches("p", &Path::from("p"), objects).unwrap();
        let ids: Vec<&str> = batches.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["b.parquet", "c.parquet", "a.parquet"]);
        assert_eq!(batches[2].time_ms, 3_000);
    }

    #[test]
    fn mixing_folders_and_loose_objects_is_an_error_naming_one() {
        let objects = vec![meta("p/batch_id=1/a.parquet", 1), meta("p/stray.parquet", 1)];
        let err = group_batches("s3://b/p/", &Path::from("p"), objects)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'stray.parquet'") && err.contains("s3://b/p/"), "{err}");
    }

    #[test]
    fn batch_ids_as_times() {
        let t = batch_time("2026-11-20T12:00:00Z").unwrap();
        assert_eq!(batch_time("20261120T120000Z"), Some(t));
        assert_eq!(batch_time("2026-11-20T12:00:00"), Some(t));
        assert_eq!(batch_time("2026-11-20"), Some(t - 12 * 3_600_000));
        assert_eq!(batch_time("20261120"), Some(t - 12 * 3_600_000));
        assert_eq!(batch_time("batch-7"), None);
    }
}
