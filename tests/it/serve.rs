//! `pulse serve`: the Arrow Flight SQL endpoint, queried by a real client
//! (ADBC's Flight SQL driver from Python, as a notebook uses it), against
//! the answers of `pulse answer` and `pulse sql` on the same files.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::cli::{AS_OF, command, file_answer, generate, pulse, rounded_csv, text};

/// A running `pulse serve`, stopped when dropped.
struct Server {
    child: Child,
    uri: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pulse serve` on a free loopback port and waits until it listens.
fn serve(args: &[&str]) -> Server {
    let mut child = command()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .env_remove("PULSE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let uri = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.split("Arrow Flight SQL on ").nth(1) {
                    break rest
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .trim_end_matches(',')
                        .to_string();
                }
                said.push_str(&line);
                said.push('\n');
            }
            _ => {
                let _ = child.kill();
                panic!("pulse serve stopped before listening: {said}");
            }
        }
    };
    // drain stderr, so the server never blocks on a full pipe
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, uri }
}

/// The client: the answer, a query with `$1` and with `?` parameters, the
/// tables as `adbc_get_objects` lists them, and what is refused.
const CLIENT: &str = r#"
import csv, json, sys
from decimal import Decimal
import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_flightsql import DatabaseOptions

uri, token, out = sys.argv[1], sys.argv[2], sys.argv[3]

def connect(tok):
    kwargs = {} if tok is None else {DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer " + tok}
    return flightsql.connect(uri, db_kwargs=kwargs)

def cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return format(v, ".17f")
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)

def write(name, table):
    with open(f"{out}/{name}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(table.column_names)
        for row in table.to_pylist():
            w.writerow([cell(v) for v in row.values()])

def attempt(conn, sql, parameters=None):
    try:
        cur = conn.cursor()
        cur.execute(sql, parameters=parameters)
        cur.fetchall()
        return None
    except Exception as e:
        return str(e)

refused = {}
with connect(token) as conn:
    cur = conn.cursor()
    cur.execute("SELECT * FROM industry_change ORDER BY rank")
    write("answer", cur.fetch_arrow_table())
    q = "SELECT count(*) AS n, sum(amount) AS total FROM orders WHERE customer_id = {} AND _error IS NULL"
    cur.execute(q.format("$1"), parameters=("C000010",))
    write("dollar", cur.fetch_arrow_table())
    cur.execute(q.format("?") + " AND amount > ?", parameters=("C000010", 0))
    write("question", cur.fetch_arrow_table())
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    names = sorted({t["table_name"] for c in objects for s in (c["catalog_db_schemas"] or [])
                    for t in (s["db_schema_tables"] or [])})
    with open(f"{out}/tables.json", "w") as f:
        json.dump(names, f)
    refused["ddl"] = attempt(conn, "CREATE TABLE x AS SELECT 1")
    refused["set"] = attempt(conn, "SET pulse.as_of = '2026-01-01T00:00:00Z'")
    refused["missing"] = attempt(conn, "SELECT * FROM nowhere")
    refused["bad_param"] = attempt(conn, "SELECT count(*) FROM orders WHERE _offset > ?", ("12x",))
for name, tok in [("no_token", None), ("wrong_token", "nope")]:
    try:
        with connect(tok) as conn:
            refused[name] = attempt(conn, "SELECT 1")
    except Exception as e:
        refused[name] = str(e)
with open(f"{out}/refused.json", "w") as f:
    json.dump(refused, f)
"#;

fn csv_file(path: &Path) -> Vec<String> {
    rounded_csv(&std::fs::read(path).unwrap())
}

#[test]
fn a_flight_sql_client_gets_the_answer_and_runs_parameterised_queries() {
    let Ok(python) = std::env::var("PULSE_TEST_PYTHON") else {
        eprintln!(
            "\n*** SKIPPED the Flight SQL client test: PULSE_TEST_PYTHON (a Python with \
             adbc-driver-flightsql) is not set. Run scripts/test. ***\n"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "17");
    let orders = dir.path().join("orders.jsonl");
    let customers = dir.path().join("customers");
    let (orders_arg, customers_arg) = (orders.to_str().unwrap(), customers.to_str().unwrap());
    let server = serve(&[
        "--orders",
        orders_arg,
        "--customers",
        customers_arg,
        "--as-of",
        AS_OF,
        "--token",
        "s3cret",
    ]);
    let out = Command::new(python)
        .arg("-c")
        .arg(CLIENT)
        .args([server.uri.as_str(), "s3cret", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the client failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    assert_eq!(
        csv_file(&dir.path().join("answer.csv")),
        file_answer(&orders, &customers, &[]),
        "the served answer is pulse answer's"
    );
    let direct = pulse(&[
        "sql",
        "--orders",
        orders_arg,
        "--customers",
        customers_arg,
        "-q",
        "--format",
        "csv",
        "-c",
        "SELECT count(*) AS n, sum(amount) AS total FROM orders WHERE customer_id = 'C000010' AND _error IS NULL",
    ]);
    assert!(direct.status.success(), "{}", text(&direct.stderr));
    let direct = rounded_csv(&direct.stdout);
    assert!(
        direct[1].split(',').next() != Some("0"),
        "the customer has orders: {direct:?}"
    );
    assert_eq!(csv_file(&dir.path().join("dollar.csv")), direct);
    assert_eq!(csv_file(&dir.path().join("question.csv")), direct);

    let tables: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tables.json")).unwrap()).unwrap();
    for name in ["orders", "customers", "top_industry_changes", "industry_change"] {
        assert!(tables.iter().any(|t| t == name), "{name} not in {tables:?}");
    }
    let refused: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("refused.json")).unwrap()).unwrap();
    let said = |k: &str| {
        refused[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} was not refused"))
            .to_string()
    };
    assert!(said("ddl").contains("answers queries only"), "{}", said("ddl"));
    assert!(said("set").contains("answers queries only"), "{}", said("set"));
    assert!(said("missing").contains("nowhere"), "{}", said("missing"));
    assert!(
        said("bad_param").contains("parameter $1") && said("bad_param").contains("12x"),
        "{}",
        said("bad_param")
    );
    assert!(said("no_token").contains("needs a token"), "{}", said("no_token"));
    assert!(
        said("wrong_token").contains("not this server's"),
        "{}",
        said("wrong_token")
    );
}

#[test]
fn serving_beyond_the_loopback_needs_a_token() {
    let run = |args: &[&str]| {
        command()
            .arg("serve")
            .args(args)
            .env_remove("PULSE_TOKEN")
            .output()
            .unwrap()
    };
    let out = run(&["--bind", "0.0.0.0:0", "--orders", "nowhere.jsonl"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("refusing to serve 0.0.0.0:0 without a token") && err.contains("--token"),
        "{err}"
    );
    let out = run(&["--bind", "no-such-host.invalid:1", "--orders", "x.jsonl"]);
    assert!(
        text(&out.stderr).contains("--bind 'no-such-host.invalid:1'"),
        "{}",
        text(&out.stderr)
    );
}
