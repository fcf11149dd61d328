//! The versioned SQL views that define the answer, and their loader.
//!
//! The views live in `sql/views/NAME_vN.sql`, one query per file, and
//! `sql/views.lock` lists them in load order with each file's SHA-256. The
//! build embeds them ([`EMBEDDED_VIEWS`]). [`load_views`] creates, in a
//! session that already has the `orders` and `customers` tables:
//! - every versioned view `NAME_vN`;
//! - for each `NAME`, the unversioned view `NAME` over its latest version;
//! - the table `pulse_views`: each view, its version, file and checksum.
//!
//! A live session may serve a view from a table that maintains its rows
//! ([`load_views_maintained`], [`crate::live`]): the file still defines it.
//!
//! What must stay true: a released file is never edited (a change is a new
//! version; the tests compare every file with the lock), the load order is
//! the lock's, and a view that cannot be created is an error naming its file.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::error::{PulseError, Result};

/// One released view file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewFile {
    /// The unversioned name, e.g. `industry_change`.
    pub name: &'static str,
    /// The version, e.g. `1` for `industry_change_v1`.
    pub version: u32,
    /// The file, relative to the repository, e.g. `sql/views/industry_change_v1.sql`.
    pub file: &'static str,
    /// The SHA-256 of the file, from the lock.
    pub sha256: &'static str,
    /// The query.
    pub sql: &'static str,
}

impl ViewFile {
    /// The versioned view name, e.g. `industry_change_v1`.
    pub fn versioned_name(&self) -> String {
        format!("{}_v{}", self.name, self.version)
    }
}

include!(concat!(env!("OUT_DIR"), "/views.rs"));

/// Creates the views of `files` (in order), the unversioned names over the
/// latest versions, and `pulse_views`. Returns the views created.
pub async fn load_views_from(ctx: &SessionContext, files: &[ViewFile]) -> Result<()> {
    load_views_from_maintained(ctx, files, &[]).await
}

/// [`load_views_from`], with some views served by a table that maintains
/// their rows (`(versioned name, maker of the table)`, see [`crate::live`])
/// instead of their query. Each such view is created first, so its file is checked as
/// any other, and replaced by its table before the views that read it are
/// created: they read the table. A table whose columns are not the view's
/// (names and types) is an error naming the file.
pub async fn load_views_from_maintained(
    ctx: &SessionContext,
    files: &[ViewFile],
    maintained: &[(&str, Maintainer)],
) -> Result<()> {
    let mut latest: BTreeMap<&str, &ViewFile> = BTreeMap::new();
    for view in files {
        let query = view.sql.trim().trim_end_matches(';');
        let name = view.versioned_name();
        let statement = format!("CREATE OR REPLACE VIEW {name} AS\n{query}");
        create(ctx, &statement, view.file).await?;
        if let Some((_, make)) = maintained.iter().find(|(n, _)| *n == name) {
            maintain(ctx, &name, make, view.file).await?;
        }
        let newest = latest.entry(view.name).or_insert(view);
        if view.version > newest.version {
            *newest = view;
        }
    }
    for (name, view) in &latest {
        let statement = format!(
            "CREATE OR REPLACE VIEW {name} AS SELECT * FROM {}",
            view.versioned_name()
        );
        create(ctx, &statement, view.file).await?;
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("view", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::UInt32, false),
        Field::new("latest", DataType::Boolean, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from_iter_values(
                files.iter().map(ViewFile::versioned_name),
            )),
            Arc::new(StringArray::from_iter_values(files.iter().map(|v| v.name))),
            Arc::new(UInt32Array::from_iter_values(files.iter().map(|v| v.version))),
            Arc::new(BooleanArray::from_iter(
                files.iter().map(|v| Some(latest.get(v.name) == Some(&v))),
            )),
            Arc::new(StringArray::from_iter_values(files.iter().map(|v| v.file))),
            Arc::new(StringArray::from_iter_values(files.iter().map(|v| v.sha256))),
        ],
    )
    .map_err(|e| view_error("pulse_views", e))?;
    let table = MemTable::try_new(schema, vec![vec![batch]]).map_err(|e| view_error("pulse_views", e))?;
    ctx.deregister_table("pulse_views")
        .map_err(|e| view_error("pulse_views", e))?;
    ctx.register_table("pulse_views", Arc::new(table))
        .map_err(|e| view_error("pulse_views", e))?;
    Ok(())
}

/// [`load_views_from`] with the embedded views.
pub async fn load_views(ctx: &SessionContext) -> Result<()> {
    load_views_from(ctx, EMBEDDED_VIEWS).await
}

/// [`load_views_from_maintained`] with the embedded views.
pub async fn load_views_maintained(ctx: &SessionContext, maintained: &[(&str, Maintainer)]) -> Result<()> {
    for (name, _) in maintained {
        if !EMBEDDED_VIEWS.iter().any(|v| v.versioned_name() == *name) {
            return Err(view_error(name, "no released view has this name"));
        }
    }
    load_views_from_maintained(ctx, EMBEDDED_VIEWS, maintained).await
}

/// Makes the table that serves a view in a live session, given the view's
/// own table (which it may run when it must).
pub type Maintainer = Arc<dyn Fn(Arc<dyn TableProvider>) -> Arc<dyn TableProvider> + Send + Sync>;

/// Puts the table `make` gives in the place of the view `name`, if their
/// columns agree.
async fn maintain(ctx: &SessionContext, name: &str, make: &Maintainer, file: &str) -> Result<()> {
    let view = ctx.table_provider(name).await.map_err(|e| view_error(file, e))?;
    let table = make(Arc::clone(&view));
    let columns = |schema: &Schema| -> Vec<(String, DataType)> {
        schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    let (want, got) = (columns(&view.schema()), columns(&table.schema()));
    if want != got {
        return Err(view_error(
            file,
            format!("the table that maintains {name} has the columns {got:?}, the view {want:?}"),
        ));
    }
    ctx.deregister_table(name).map_err(|e| view_error(file, e))?;
    ctx.register_table(name, table).map_err(|e| view_error(file, e))?;
    Ok(())
}

async fn create(ctx: &SessionContext, statement: &str, file: &str) -> Result<()> {
    let df = ctx.sql(statement).await.map_err(|e| view_error(file, e))?;
    df.collect().await.map_err(|e| view_error(file, e))?;
    Ok(())
}

fn view_error(file: &str, e: impl std::fmt::Display) -> PulseError {
    PulseError::View {
        file: file.to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::path::Path;

    fn sha256_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    #[test]
    fn released_files_match_the_lock() {
        for view in EMBEDDED_VIEWS {
            let bytes = std::fs::read(root().join(view.file)).unwrap();
            let actual = sha256_hex(&bytes);
            assert_eq!(
                actual,
                view.sha256,
                "{} changed after release: put the change in a new version (NAME_v{}.sql) with its own lock line",
                view.file,
                view.version + 1
            );
            assert_eq!(
                view.file,
                format!("sql/views/{}_v{}.sql", view.name, view.version),
                "file name and lock disagree"
            );
        }
    }

    #[test]
    fn every_view_file_is_in_the_lock() {
        for entry in std::fs::read_dir(root().join("sql/views")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            let file = format!("sql/views/{name}");
            let sha = sha256_hex(&std::fs::read(root().join(&file)).unwrap());
            assert!(
                EMBEDDED_VIEWS.iter().any(|v| v.file == file),
                "{file} is not in sql/views.lock; add the line: {} views/{name} {sha}",
                name.trim_end_matches(".sql")
                    .rsplit_once("_v")
                    .map(|(n, v)| format!("{n} {v}"))
                    .unwrap_or_default()
            );
        }
    }
}
