//! Embeds the released SQL views (`../sql/views.lock`, in its order) into
//! the engine, so every binary carries the views it was built with.
//!
//! What must stay true: the lock file is the one list of views and their
//! load order; a line that names a missing file fails the build, naming it.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let sql = manifest.join("..").join("sql");
    let lock = sql.join("views.lock");
    println!("cargo:rerun-if-changed={}", sql.display());
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_else(|e| panic!("cannot read {}: {e}", lock.display()));
    let mut code = String::from("/// The released views, in load order (generated from sql/views.lock).\n");
    code.push_str("pub static EMBEDDED_VIEWS: &[ViewFile] = &[\n");
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, version, file, checksum] = fields.as_slice() else {
            panic!(
                "{}:{}: expected 'view version file sha256', found '{line}'",
                lock.display(),
                n + 1
            );
        };
        let path = sql.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let path = std::fs::canonicalize(&path)
            .unwrap_or_else(|e| panic!("{}:{}: view file {file}: {e}", lock.display(), n + 1));
        writeln!(
            code,
            "    ViewFile {{ name: {name:?}, version: {version}, file: {:?}, sha256: {checksum:?}, sql: include_str!({:?}) }},",
            format!("sql/{file}"),
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("views.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
