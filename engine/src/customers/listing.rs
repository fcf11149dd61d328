//! Which batches a customers location holds, and in which order.
//!
//! A batch is a folder `batch_id=<sortable id>/` of Parquet files (at any
//! depth below it) under the location. Folder names are percent-decoded
//! once, as Hive and Spark write them (`batch_id=2026-11-18T12%3A00%3A00Z`
//! is the batch `2026-11-18T12:00:00Z`). Batches are ordered by `batch_id`:
//! as integers when every id is digits only (`batch_id=10` comes after
//! `batch_id=9`), as text otherwise. Without that folder level every object
//! is its own batch, ordered by its last-modified time (then by key).
//! Objects whose path has a segment starting with `_` or `.` (`_SUCCESS`,
//! `.crc` files) are not data.
//!
//! A batch's time (`valid_from` of its rows) is its `batch_id` read as a
//! time when it is one (`2026-11-20T12:00:00Z`, `20261120T120000Z`,
//! `2026-11-20`, `20261120`), and otherwise the newest last-modified time
//! of its objects.
//!
//! What must stay true (`DESIGN.md`, "Customer batches"): the same objects
//! always give the same batches in the same order, with their files sorted
//! by key; and no ambiguity passes silently. A location that holds no
//! batch, a batch folder without a data file, integer ids mixed with other
//! ids (or two folders naming the same integer), and batch folders mixed
//! with loose objects are errors that name what is wrong, never an empty
//! or partial table.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use object_store::ObjectMeta;
use object_store::path::Path;

use crate::error::{PulseError, Result};

/// The folder prefix that names a batch.
pub const BATCH_FOLDER_PREFIX: &str = "batch_id=";

/// One object of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct BatchFile {
    /// The object's path in its store, as listed (never re-parsed).
    #[cfg_attr(feature = "distributed", serde(with = "crate::distributed::wire::object_path"))]
    pub path: Path,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last modified.
    pub modified: DateTime<Utc>,
}

impl BatchFile {
    /// The object as the Parquet reader takes it.
    pub fn meta(&self) -> ObjectMeta {
        ObjectMeta {
            location: self.path.clone(),
            last_modified: self.modified,
            size: self.size,
            e_tag: None,
            version: None,
        }
    }
}

/// One batch of customers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct Batch {
    /// The `batch_id` (or, without batch folders, the object's path below the location).
    pub id: String,
    /// The batch's time in epoch milliseconds.
    pub time_ms: i64,
    /// Its objects, sorted by path.
    pub files: Vec<BatchFile>,
}

/// A batch folder as listed: its name, data files and newest modification.
struct Folder {
    name: String,
    files: Vec<BatchFile>,
    newest_ms: i64,
}

/// Groups the objects listed under `prefix` into batches, oldest first.
pub fn group_batches(location: &str, prefix: &Path, objects: Vec<ObjectMeta>) -> Result<Vec<Batch>> {
    let invalid = |reason: String| PulseError::InvalidLocation {
        location: location.to_string(),
        reason,
    };
    let mut folders: BTreeMap<String, Folder> = BTreeMap::new();
    let mut loose: Vec<(i64, String, BatchFile)> = Vec::new();
    for meta in objects {
        let relative: Vec<String> = match meta.location.prefix_match(prefix) {
            Some(parts) => parts.map(|p| p.as_ref().to_string()).collect(),
            None => continue,
        };
        let hidden = |p: &String| p.starts_with('_') || p.starts_with('.');
        if relative.is_empty() || hidden(&relative[0]) {
            continue;
        }
        let in_batch_folder = relative.len() > 1
            && relative[0]
                .strip_prefix(BATCH_FOLDER_PREFIX)
                .is_some_and(|id| !id.is_empty());
        if !in_batch_folder && relative.iter().any(hidden) {
            continue; // `_SUCCESS`, `.crc`: not data, wherever they are
        }
        let modified = meta.last_modified.timestamp_millis();
        let file = BatchFile {
            path: meta.location,
            size: meta.size,
            modified: meta.last_modified,
        };
        match relative[0].strip_prefix(BATCH_FOLDER_PREFIX) {
            Some(raw) if relative.len() > 1 && !raw.is_empty() => {
                let id = percent_encoding::percent_decode_str(raw)
                    .decode_utf8()
                    .map_err(|_| invalid(format!("folder '{}' is not UTF-8 once percent-decoded", relative[0])))?
                    .into_owned();
                let folder = folders.entry(id).or_insert_with(|| Folder {
                    name: relative[0].clone(),
                    files: Vec::new(),
                    newest_ms: i64::MIN,
                });
                if folder.name != relative[0] {
                    return Err(invalid(format!(
                        "folders '{}' and '{}' name the same batch once percent-decoded; which is newer is not \
                         defined",
                        folder.name, relative[0]
                    )));
                }
                if !relative[1..].iter().any(hidden) {
                    folder.files.push(file);
                    folder.newest_ms = folder.newest_ms.max(modified);
                }
            }
            _ => loose.push((modified, relative.join("/"), file)),
        }
    }
    if folders.is_empty() {
        if loose.is_empty() {
            return Err(invalid(
                "holds no customer batch (no data object below it); Pulse answers no question on no customers".into(),
            ));
        }
        loose.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        return Ok(loose
            .into_iter()
            .map(|(modified, name, file)| Batch {
                id: name,
                time_ms: modified,
                files: vec![file],
            })
            .collect());
    }
    if let Some((_, name, _)) = loose.first() {
        return Err(invalid(format!(
            "object '{name}' is outside any {BATCH_FOLDER_PREFIX}… folder while other objects are in one; \
             move it into a batch folder"
        )));
    }
    if let Some(empty) = folders.values().find(|f| f.files.is_empty()) {
        return Err(invalid(format!(
            "batch folder '{}' holds no data file (only hidden ones such as _SUCCESS); a batch is written \
             whole before it is read",
            empty.name
        )));
    }
    let ids: Vec<&String> = folders.keys().collect();
    let numeric = |id: &str| id.bytes().all(|b| b.is_ascii_digit());
    let integers = match (ids.iter().find(|i| numeric(i)), ids.iter().find(|i| !numeric(i))) {
        (Some(int), Some(text)) => {
            return Err(invalid(format!(
                "batch ids '{int}' and '{text}' cannot be ordered together: give every batch an integer id, \
                 or none"
            )));
        }
        (Some(_), None) => true,
        _ => false,
    };
    let mut batches: Vec<Batch> = folders
        .into_iter()
        .map(|(id, mut folder)| {
            folder.files.sort_by(|a, b| a.path.cmp(&b.path));
            Batch {
                time_ms: batch_time(&id).unwrap_or(folder.newest_ms),
                id,
                files: folder.files,
            }
        })
        .collect();
    if integers {
        batches.sort_by(|a, b| integer_order(&a.id, &b.id));
        if let Some(w) = batches
            .windows(2)
            .find(|w| integer_order(&w[0].id, &w[1].id) == Ordering::Equal)
        {
            return Err(invalid(format!(
                "batch ids '{}' and '{}' are the same integer; which is newer is not defined",
                w[0].id, w[1].id
            )));
        }
    }
    Ok(batches)
}

/// Sorts batches known by id and time, oldest first, in the order
/// [`group_batches`] lists them: objects outside batch folders (`loose`)
/// by time, then path; batch folders by id, as integers when every id is
/// digits, as text otherwise. The lake orders the batches it holds with it.
pub fn sort_batch_ids(ids: &mut [(String, i64)], loose: bool) {
    let numeric = |id: &str| id.bytes().all(|b| b.is_ascii_digit());
    if loose {
        ids.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    } else if ids.iter().all(|(id, _)| numeric(id)) {
        ids.sort_by(|a, b| integer_order(&a.0, &b.0).then_with(|| a.0.cmp(&b.0)));
    } else {
        ids.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// The order of two ids of digits, as integers of any size.
fn integer_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
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
        // as a store lists it: parts hold the names as they are
        let path = Path::parse(path).unwrap();
        ObjectMeta {
            location: path,
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
    fn sorting_known_ids_gives_the_listings_order() {
        let cases: [(Vec<ObjectMeta>, bool); 3] = [
            (
                vec![
                    meta("p/batch_id=10/a", 1),
                    meta("p/batch_id=9/a", 5),
                    meta("p/batch_id=0100/a", 2),
                ],
                false,
            ),
            (
                vec![
                    meta("p/batch_id=b/a", 1),
                    meta("p/batch_id=a10/a", 5),
                    meta("p/batch_id=a9/a", 2),
                ],
                false,
            ),
            (
                vec![meta("p/c.parquet", 2), meta("p/a.parquet", 3), meta("p/b.parquet", 2)],
                true,
            ),
        ];
        for (objects, loose) in cases {
            let listed: Vec<(String, i64)> = group_batches("p", &Path::from("p"), objects)
                .unwrap()
                .into_iter()
                .map(|b| (b.id, b.time_ms))
                .collect();
            let mut sorted = listed.clone();
            sorted.reverse();
            sort_batch_ids(&mut sorted, loose);
            assert_eq!(sorted, listed);
        }
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
    fn integer_ids_order_as_integers_and_may_not_mix_with_others() {
        let ids = |objects| {
            group_batches("p", &Path::from("p"), objects)
                .map(|b: Vec<Batch>| b.into_iter().map(|b| b.id).collect::<Vec<_>>())
        };
        assert_eq!(
            ids(vec![
                meta("p/batch_id=10/a", 1),
                meta("p/batch_id=9/a", 1),
                meta("p/batch_id=100/a", 1)
            ])
            .unwrap(),
            ["9", "10", "100"]
        );
        let err = ids(vec![meta("p/batch_id=1/a", 1), meta("p/batch_id=abc/a", 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'1' and 'abc'"), "{err}");
        let err = ids(vec![meta("p/batch_id=7/a", 1), meta("p/batch_id=007/a", 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'007' and '7' are the same integer"), "{err}");
    }

    #[test]
    fn folder_names_are_percent_decoded_once() {
        let batches = group_batches(
            "p",
            &Path::from("p"),
            vec![meta("p/batch_id=2026-11-18T12%3A00%3A00Z/part-0.parquet", 1)],
        )
        .unwrap();
        assert_eq!(batches[0].id, "2026-11-18T12:00:00Z");
        assert_eq!(batches[0].time_ms, batch_time("2026-11-18T12:00:00Z").unwrap());
        assert_eq!(
            batches[0].files[0].path.as_ref(),
            "p/batch_id=2026-11-18T12%3A00%3A00Z/part-0.parquet",
            "the file keeps its listed path"
        );
    }

    #[test]
    fn no_batch_and_a_batch_of_only_hidden_files_are_errors_naming_them() {
        let err = group_batches("s3://b/p/", &Path::from("p"), vec![meta("p/_SUCCESS", 1)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'s3://b/p/'") && err.contains("holds no customer batch"),
            "{err}"
        );
        let err = group_batches(
            "p",
            &Path::from("p"),
            vec![meta("p/batch_id=1/a.parquet", 1), meta("p/batch_id=2/_SUCCESS", 2)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("'batch_id=2' holds no data file"), "{err}");
    }

    #[test]
    fn two_spellings_of_one_batch_are_an_error_and_hidden_objects_are_no_data_anywhere() {
        let err = group_batches(
            "p",
            &Path::from("p"),
            vec![meta("p/batch_id=a%3Ab/x", 1), meta("p/batch_id=a:b/y", 1)],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("'batch_id=a%3Ab' and 'batch_id=a:b'") || err.contains("'batch_id=a:b' and 'batch_id=a%3Ab'"),
            "{err}"
        );
        let batches = group_batches(
            "p",
            &Path::from("p"),
            vec![
                meta("p/2026/a.parquet", 1),
                meta("p/2026/_SUCCESS", 2),
                meta("p/sub/.a.parquet.crc", 3),
            ],
        )
        .unwrap();
        assert_eq!(batches.len(), 1, "{batches:?}");
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
