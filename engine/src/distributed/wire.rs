//! How Pulse's parts are written inside a codec's buffer: one tag byte
//! that says whose the rest is ([`Tag`]), then, for Pulse's own, JSON of
//! the part's wire form (each scan module defines its own, next to the
//! fields it mirrors), and Arrow IPC for in-memory rows.
//!
//! What must stay true: the decoder reads the tag and never guesses; a
//! buffer Pulse cannot read is an error that names what it was decoding.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::{DataFusionError, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Whose encoding follows the first byte of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Ballista's codec (its shuffle nodes, DataFusion's file formats).
    Ballista = 0,
    /// Pulse's: JSON of a table's or scan's wire form.
    Pulse = 1,
}

/// Appends `tag` and `value` (as JSON) to `buf`.
pub fn put<T: Serialize>(buf: &mut Vec<u8>, value: &T) -> Result<()> {
    buf.push(Tag::Pulse as u8);
    serde_json::to_writer(buf, value)
        .map_err(|e| DataFusionError::Internal(format!("cannot encode a Pulse plan part: {e}")))
}

/// Splits a buffer into its tag and the rest.
pub fn split<'a>(buf: &'a [u8], what: &str) -> Result<(Tag, &'a [u8])> {
    match buf.split_first() {
        Some((0, rest)) => Ok((Tag::Ballista, rest)),
        Some((1, rest)) => Ok((Tag::Pulse, rest)),
        Some((other, _)) => Err(DataFusionError::Internal(format!(
            "cannot decode {what}: unknown codec tag {other} (a cluster process of another Pulse version?)"
        ))),
        None => Err(DataFusionError::Internal(format!(
            "cannot decode {what}: the buffer is empty"
        ))),
    }
}

/// Reads a Pulse part (the rest after its tag).
pub fn get<T: DeserializeOwned>(rest: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(rest).map_err(|e| {
        DataFusionError::Internal(format!(
            "cannot decode {what}: {e} (a cluster process of another Pulse version?)"
        ))
    })
}

/// Rows as one Arrow IPC stream.
pub fn batches_to_ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// The rows of one Arrow IPC stream.
pub fn ipc_to_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(bytes, None)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// `serde(with = …)` for an object-store path: its string, as listed,
/// read back without re-encoding.
pub mod object_path {
    use object_store::path::Path;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the path's string.
    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(path.as_ref())
    }

    /// Reads a path's string, which must be a valid object-store path.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Path, D::Error> {
        let text = String::deserialize(d)?;
        Path::parse(&text).map_err(serde::de::Error::custom)
    }
}
