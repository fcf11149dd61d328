//! The Arrow Flight SQL endpoint of `pulse serve`: any Flight SQL client
//! (ADBC, the Flight SQL JDBC driver, BI tools) queries the same session as
//! `pulse sql`, with its tables, views and settings.
//!
//! Every request runs in a fresh [`SessionContext`] over one shared
//! [`SessionState`]: the catalogs (Kafka and lake tables, customer
//! batches, the views) are the same objects, while a request cannot change
//! what the next one sees. A statement is planned when the client asks for
//! its `FlightInfo` and planned again when it fetches the rows, so each
//! fetch reads the sources as they are then (a Kafka table fixes its cut
//! per statement). Prepared statements take parameters as `$1`, `$2`, … or
//! as `?` (numbered in order of appearance); a parameter's value is cast to
//! the type the query expects, when the query says.
//!
//! What must stay true: only queries run (no DDL, no DML, no `SET`), so a
//! client never changes the served session; when a token is set, every call
//! without `authorization: Bearer <token>` is refused before any work; every
//! error reaches the client as a status whose message is DataFusion's (the
//! topic, partition or file it names included).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use datafusion::common::ParamValues;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use pulse::engine::kafka::CutLog;
use tonic::{Request, Response, Status, Streaming};

type DoGetStream = <PulseFlightSql as FlightService>::DoGetStream;

/// The Flight SQL service over one Pulse session.
pub struct PulseFlightSql {
    state: SessionState,
    token: Option<String>,
    sql_info: SqlInfoData,
}

impl PulseFlightSql {
    /// Serves `state`; with `token`, every call must carry
    /// `authorization: Bearer <token>`.
    pub fn new(state: SessionState, token: Option<String>) -> Result<Self, DataFusionError> {
        let mut info = SqlInfoDataBuilder::new();
        info.append(SqlInfo::FlightSqlServerName, "Pulse");
        info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        info.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        info.append(SqlInfo::FlightSqlServerReadOnly, true);
        info.append(SqlInfo::FlightSqlServerSql, true);
        info.append(SqlInfo::FlightSqlServerSubstrait, false);
        info.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        let sql_info = info.build().map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Self { state, token, sql_info })
    }

    /// Refuses a call without the token, when one is set.
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
            });
        match given {
            Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err(Status::unauthenticated(
                "pulse serve: the bearer token is not this server's",
            )),
            None => Err(Status::unauthenticated(
                "pulse serve: this server needs a token: send the header 'authorization: Bearer <token>'",
            )),
        }
    }

    /// `sql` planned in a fresh context of the served session, read-only,
    /// with `params` bound.
    async fn plan(&self, sql: &str, params: Option<&[u8]>) -> Result<DataFrame, Status> {
        // each request logs its own Kafka cuts (`pulse_cut()`): a client
        // never sees another's
        let mut state = self.state.clone();
        state.config_mut().set_extension(Arc::new(CutLog::default()));
        let ctx = SessionContext::new_with_state(state);
        let sql = number_question_marks(sql)?;
        let plan = ctx.state().create_logical_plan(&sql).await.map_err(plan_status)?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| Status::permission_denied(format!("pulse serve answers queries only: {e}")))?;
        let df = ctx.execute_logical_plan(plan).await.map_err(plan_status)?;
        let Some(params) = params else {
            return Ok(df);
        };
        let expected = df.logical_plan().get_parameter_types().map_err(plan_status)?;
        let values = decode_params(params, &expected)?;
        df.with_param_values(values).map_err(plan_status)
    }

    /// Runs `df` and streams its batches as Flight data.
    async fn rows(&self, df: DataFrame) -> Result<Response<DoGetStream>, Status> {
        let stream = df.execute_stream().await.map_err(run_status)?;
        let schema = stream.schema();
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(stream.map_err(|e| FlightError::Tonic(Box::new(run_status(e)))))
            .map_err(Status::from);
        Ok(Response::new(Box::pin(flight)))
    }

    /// Streams one batch of metadata rows.
    fn one_batch(schema: SchemaRef, batch: Result<RecordBatch, impl Into<FlightError>>) -> Response<DoGetStream> {
        let batch = batch.map_err(Into::into);
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async move { batch }))
            .map_err(Status::from);
        Response::new(Box::pin(flight))
    }
}

/// A `FlightInfo` whose one endpoint's ticket is `ticket`.
fn info_for(schema: &Schema, ticket: Any, descriptor: FlightDescriptor) -> Result<Response<FlightInfo>, Status> {
    let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket.encode_to_vec()));
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("the result's schema cannot be encoded: {e}")))?
        .with_endpoint(endpoint)
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

fn plan_status(e: DataFusionError) -> Status {
    Status::invalid_argument(e.to_string())
}

fn run_status(e: DataFusionError) -> Status {
    Status::internal(e.to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `sql` with each `?` placeholder replaced by `$1`, `$2`, … in order of
/// appearance (the JDBC/ODBC/ADBC convention; DataFusion numbers them).
/// Question marks in strings, identifiers and comments are left alone: the
/// SQL is tokenized to find the placeholders, and only their characters
/// are replaced in the text as given. A statement may not mix `?` with
/// `$n`.
fn number_question_marks(sql: &str) -> Result<String, Status> {
    if !sql.contains('?') {
        return Ok(sql.to_string());
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| Status::invalid_argument(format!("the SQL cannot be read: {e}")))?;
    let mut marks = Vec::new();
    let mut numbered = false;
    for t in &tokens {
        if let Token::Placeholder(p) = &t.token {
            if p == "?" {
                let at = byte_at(sql, t.span.start.line, t.span.start.column)
                    .filter(|&i| sql.as_bytes().get(i) == Some(&b'?'))
                    .ok_or_else(|| {
                        Status::internal(format!("a '?' placeholder could not be placed at {}", t.span.start))
                    })?;
                marks.push(at);
            } else if p[1..].bytes().all(|b| b.is_ascii_digit()) {
                numbered = true;
            }
        }
    }
    if numbered && !marks.is_empty() {
        return Err(Status::invalid_argument(
            "the statement mixes '?' and '$n' parameters; use one kind",
        ));
    }
    let mut out = String::with_capacity(sql.len() + 2 * marks.len());
    let mut from = 0;
    for (n, at) in marks.into_iter().enumerate() {
        out.push_str(&sql[from..at]);
        out.push_str(&format!("${}", n + 1));
        from = at + 1;
    }
    out.push_str(&sql[from..]);
    Ok(out)
}

/// The byte offset of 1-based `line` and `column` (in characters) in `text`.
fn byte_at(text: &str, line: u64, column: u64) -> Option<usize> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let column = usize::try_from(column).ok()?.checked_sub(1)?;
    let start = if line == 0 {
        0
    } else {
        text.match_indices('\n').nth(line - 1)?.0 + 1
    };
    text[start..].char_indices().nth(column).map(|(i, _)| start + i)
}

/// A prepared statement's handle: its SQL and, once bound, its parameters
/// as an Arrow IPC stream of one row. The client holds it; the server keeps
/// nothing between calls.
struct Handle {
    sql: String,
    params: Option<Vec<u8>>,
}

impl Handle {
    fn encode(&self) -> Bytes {
        let sql = self.sql.as_bytes();
        let mut out = Vec::with_capacity(8 + sql.len() + self.params.as_ref().map_or(0, Vec::len));
        out.extend_from_slice(&(sql.len() as u64).to_le_bytes());
        out.extend_from_slice(sql);
        if let Some(p) = &self.params {
            out.extend_from_slice(p);
        }
        out.into()
    }

    fn decode(bytes: &[u8]) -> Result<Self, Status> {
        let bad = || Status::invalid_argument("not a prepared statement handle of this server");
        let len: [u8; 8] = bytes.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
        let end = usize::try_from(u64::from_le_bytes(len))
            .ok()
            .and_then(|len| len.checked_add(8))
            .ok_or_else(bad)?;
        let sql = bytes.get(8..end).ok_or_else(bad)?;
        let sql = String::from_utf8(sql.to_vec()).map_err(|_| bad())?;
        let rest = &bytes[end..];
        Ok(Self {
            sql,
            params: (!rest.is_empty()).then(|| rest.to_vec()),
        })
    }
}

/// The parameters a query expects, as a schema `$1`, `$2`, … (named ones
/// after them, by name); an unknown type is `Null`, which takes any value.
fn parameter_schema(expected: &HashMap<String, Option<DataType>>) -> Schema {
    let mut names: Vec<&String> = expected.keys().collect();
    names.sort_by_key(|n| (n[1..].parse::<usize>().unwrap_or(usize::MAX), n.to_string()));
    Schema::new(
        names
            .into_iter()
            .map(|n| Field::new(n, expected[n].clone().unwrap_or(DataType::Null), true))
            .collect::<Vec<_>>(),
    )
}

/// A cast that fails on a value it cannot convert, rather than giving NULL
/// (`'12x'` for an integer parameter is an error, not "no rows").
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: datafusion::arrow::util::display::FormatOptions::new(),
};

/// The values of a one-row IPC stream, each cast to the type the query
/// expects at its position, if it says.
fn decode_params(ipc: &[u8], expected: &HashMap<String, Option<DataType>>) -> Result<ParamValues, Status> {
    let bad = |m: String| Status::invalid_argument(format!("the parameters cannot be read: {m}"));
    let reader = StreamReader::try_new(ipc, None).map_err(|e| bad(e.to_string()))?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| bad(e.to_string()))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let Some(batch) = batches.into_iter().find(|b| b.num_rows() > 0) else {
        return Ok(ParamValues::List(vec![]));
    };
    if rows != 1 {
        return Err(bad(format!(
            "{rows} rows of parameters were bound; Pulse runs a statement with one row of parameters"
        )));
    }
    let mut values = Vec::with_capacity(batch.num_columns());
    for (i, column) in batch.columns().iter().enumerate() {
        let column: ArrayRef = match expected.get(&format!("${}", i + 1)).cloned().flatten() {
            Some(want) if &want != column.data_type() => cast_with_options(column, &want, &STRICT).map_err(|e| {
                bad(format!(
                    "parameter ${} ({}) is not a {want}: {e}",
                    i + 1,
                    column.data_type()
                ))
            })?,
            _ => Arc::clone(column),
        };
        values.push(ScalarValue::try_from_array(&column, 0).map_err(|e| bad(e.to_string()))?);
    }
    Ok(ParamValues::from(values))
}

/// The row of bound parameters sent by `do_put`, as an IPC stream.
async fn collect_params(stream: PeekableFlightDataStream) -> Result<Vec<u8>, Status> {
    let mut batches = FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from));
    let mut out = Vec::new();
    let mut writer: Option<StreamWriter<&mut Vec<u8>>> = None;
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| Status::invalid_argument(format!("the parameters cannot be read: {e}")))?;
        if writer.is_none() {
            writer = Some(
                StreamWriter::try_new(&mut out, &batch.schema())
                    .map_err(|e| Status::internal(format!("the parameters cannot be kept: {e}")))?,
            );
        }
        if let Some(w) = writer.as_mut() {
            w.write(&batch)
                .map_err(|e| Status::internal(format!("the parameters cannot be kept: {e}")))?;
        }
    }
    if let Some(mut w) = writer {
        w.finish()
            .map_err(|e| Status::internal(format!("the parameters cannot be kept: {e}")))?;
    }
    Ok(out)
}

fn schema_bytes(schema: &Schema) -> Result<Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| Status::internal(format!("a schema cannot be encoded: {e}")))?;
    Ok(message.0)
}

#[tonic::async_trait]
impl FlightSqlService for PulseFlightSql {
    type FlightService = PulseFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        self.check(&request)?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: Bytes::new(),
        };
        Ok(Response::new(Box::pin(futures::stream::once(async { Ok(reply) }))))
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check(&request)?;
        let df = self.plan(&query.query, None).await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        info_for(df.schema().as_arrow(), ticket.as_any(), request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.check(&request)?;
        let sql = std::str::from_utf8(&ticket.statement_handle)
            .map_err(|_| Status::invalid_argument("the statement handle is not UTF-8 SQL"))?;
        let df = self.plan(sql, None).await?;
        self.rows(df).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        self.check(&request)?;
        let df = self.plan(&query.query, None).await?;
        let expected = df.logical_plan().get_parameter_types().map_err(plan_status)?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: Handle {
                sql: query.query,
                params: None,
            }
            .encode(),
            dataset_schema: schema_bytes(df.schema().as_arrow())?,
            parameter_schema: schema_bytes(&parameter_schema(&expected))?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.check(&request)?;
        let handle = Handle::decode(&query.prepared_statement_handle)?;
        let params = collect_params(request.into_inner()).await?;
        let params = (!params.is_empty()).then_some(params);
        // planned now, so a parameter of the wrong type fails at binding
        self.plan(&handle.sql, params.as_deref()).await?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(
                Handle {
                    sql: handle.sql,
                    params,
                }
                .encode(),
            ),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check(&request)?;
        let handle = Handle::decode(&query.prepared_statement_handle)?;
        let df = self.plan(&handle.sql, handle.params.as_deref()).await?;
        info_for(df.schema().as_arrow(), query.as_any(), request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.check(&request)?;
        let handle = Handle::decode(&query.prepared_statement_handle)?;
        let df = self.plan(&handle.sql, handle.params.as_deref()).await?;
        self.rows(df).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        // the handle holds everything: nothing to free
        self.check(&request)
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check(&request)?;
        let schema = query.into_builder().schema();
        info_for(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.check(&request)?;
        let mut builder = query.into_builder();
        for name in self.state.catalog_list().catalog_names() {
            builder.append(name);
        }
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check(&request)?;
        let schema = query.clone().into_builder().schema();
        info_for(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.check(&request)?;
        let mut builder = query.into_builder();
        let catalogs = self.state.catalog_list();
        for catalog_name in catalogs.catalog_names() {
            if let Some(catalog) = catalogs.catalog(&catalog_name) {
                for schema_name in catalog.schema_names() {
                    builder.append(&catalog_name, schema_name);
                }
            }
        }
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check(&request)?;
        let schema = query.clone().into_builder().schema();
        info_for(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.check(&request)?;
        let with_schema = query.include_schema;
        let mut builder = query.into_builder();
        let catalogs = self.state.catalog_list();
        for catalog_name in catalogs.catalog_names() {
            let Some(catalog) = catalogs.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table_name in schema.table_names() {
                    let kind = match schema.table_type(&table_name).await {
                        Ok(Some(TableType::View)) => "VIEW",
                        Ok(Some(TableType::Temporary)) => "LOCAL TEMPORARY",
                        Ok(_) => "TABLE",
                        Err(e) => return Err(run_status(e)),
                    };
                    // a lake table no ingest has created yet has no schema
                    // to give; it is listed once it exists
                    let columns = if with_schema {
                        match schema.table(&table_name).await {
                            Ok(Some(t)) => t.schema(),
                            Ok(None) => continue,
                            Err(e) => {
                                log::debug!("{catalog_name}.{schema_name}.{table_name} not listed: {e}");
                                continue;
                            }
                        }
                    } else {
                        Arc::new(Schema::empty())
                    };
                    builder
                        .append(&catalog_name, &schema_name, &table_name, kind, &columns)
                        .map_err(|e| Status::internal(e.to_string()))?;
                }
            }
        }
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check(&request)?;
        let schema = query.into_builder().schema();
        info_for(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.check(&request)?;
        let mut builder = query.into_builder();
        for kind in ["LOCAL TEMPORARY", "TABLE", "VIEW"] {
            builder.append(kind);
        }
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check(&request)?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        info_for(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.check(&request)?;
        let builder = query.into_builder(&self.sql_info);
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_are_numbered_outside_strings_and_comments() {
        let sql = "SELECT '?', \"a?\" FROM t -- why?\nWHERE a = ? AND b > ? /* ? */";
        assert_eq!(
            number_question_marks(sql).unwrap(),
            "SELECT '?', \"a?\" FROM t -- why?\nWHERE a = $1 AND b > $2 /* ? */"
        );
        assert_eq!(number_question_marks("SELECT $1").unwrap(), "SELECT $1");
        // quotes stay as written (the tokenizer's unescaped text is not used)
        assert_eq!(
            number_question_marks("SELECT 'it''s?', \"a\"\"b?\" FROM t WHERE x = ?").unwrap(),
            "SELECT 'it''s?', \"a\"\"b?\" FROM t WHERE x = $1"
        );
        assert_eq!(
            number_question_marks("SELECT 'ü', ?\n  , ?").unwrap(),
            "SELECT 'ü', $1\n  , $2"
        );
        assert!(number_question_marks("SELECT $1, ?").is_err());
    }

    #[test]
    fn a_handle_keeps_its_sql_and_parameters() {
        let h = Handle {
            sql: "SELECT $1 -- ü".into(),
            params: Some(vec![1, 2, 3]),
        };
        let back = Handle::decode(&h.encode()).unwrap();
        assert_eq!(
            (back.sql.as_str(), back.params),
            ("SELECT $1 -- ü", Some(vec![1, 2, 3]))
        );
        assert!(Handle::decode(b"\xff\xff\xff\xff\xff\xff\xff\xffx").is_err());
        assert!(Handle::decode(b"ab").is_err());
    }

    #[test]
    fn a_token_compares_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
