//! [`PulseLogicalCodec`] ships Pulse's tables from a client to the
//! scheduler; [`PulsePhysicalCodec`] ships the scans the scheduler planned
//! to the executors. Anything else goes to Ballista's codecs, which know
//! its shuffle nodes and DataFusion's file formats.
//!
//! Tables it knows: a Kafka topic ([`KafkaTable`]), a JSON-lines file
//! ([`JsonLinesTable`]), customer batches ([`CustomersTable`]), the lake's
//! `orders` ([`LakeOrdersTable`], whose Delta files the scheduler plans as
//! Parquet) and small in-memory tables such as `industries()`
//! ([`MemTable`]). Scans it knows:
//! [`KafkaScanExec`], [`JsonLinesScanExec`], [`CustomersExec`], each under
//! the [`SlicedScanExec`] the scheduler puts it in.
//!
//! What must stay true: a table this codec does not know fails with an
//! error naming the table and its kind (the decoded-log cache, the `dal`
//! catalog's own tables and a missing source cannot be shipped yet), so a query never
//! runs partly on the client; a Kafka configuration is shipped without its
//! secret client properties and an S3 location without its credentials,
//! and the decoding process adds its own ([`ClusterSettings`]); a decoded
//! scan reads exactly the ranges, objects and groups that were encoded.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use super::cluster::ClusterSettings;
use super::slice::SlicedScanExec;
use super::wire::{self, Tag};
use crate::customers::exec::CustomersScanWire;
use crate::customers::{CustomersExec, CustomersTable, CustomersView};
use crate::jsonl::exec::JsonLinesScanWire;
use crate::jsonl::{JsonLinesScanExec, JsonLinesTable};
use crate::kafka::exec::KafkaScanWire;
use crate::kafka::{KafkaScanExec, KafkaTable, KafkaTableConfig};
use crate::lake::{Lake, LakeOrdersTable};
use crate::messages::MalformedPolicy;
use crate::storage::{self, SharedLocation};

/// A table as it travels from a client to the scheduler: what the
/// scheduler needs to plan its scans itself.
#[derive(Serialize, Deserialize)]
enum TableWire {
    Kafka(KafkaTableConfig),
    JsonLines {
        path: PathBuf,
        policy: MalformedPolicy,
    },
    Customers {
        location: SharedLocation,
        view: CustomersView,
    },
    /// One Arrow IPC stream per partition.
    Memory(Vec<Vec<u8>>),
    /// `orders` = the lake ∪ the topic's tail.
    LakeOrders {
        lake: SharedLocation,
        kafka: KafkaTableConfig,
    },
}

/// A planned scan as it travels from the scheduler to an executor.
#[derive(Serialize, Deserialize)]
enum ScanWire {
    Kafka(Box<KafkaScanWire>),
    JsonLines(JsonLinesScanWire),
    Customers(CustomersScanWire),
    /// A scan under a [`SlicedScanExec`], whose selector is its input.
    Sliced(Box<ScanWire>),
}

impl ScanWire {
    /// The wire form of a [`SlicedScanExec`]; a bare Pulse scan is refused,
    /// as every task would read it whole.
    fn of_sliced(node: &dyn ExecutionPlan) -> Result<Option<Self>> {
        if let Some(sliced) = node.downcast_ref::<SlicedScanExec>() {
            return match Self::of(sliced.scan().as_ref()) {
                Some(scan) => Ok(Some(ScanWire::Sliced(Box::new(scan)))),
                None => Err(DataFusionError::NotImplemented(format!(
                    "a sliced {} cannot be shipped to a Ballista executor",
                    sliced.scan().name()
                ))),
            };
        }
        match Self::of(node) {
            Some(_) => Err(DataFusionError::Internal(format!(
                "{} is not sliced for Ballista's tasks (each would read all of it); plan it in a \
                 scheduler's session",
                node.name()
            ))),
            None => Ok(None),
        }
    }

    /// A Pulse scan's wire form, if `node` is one.
    fn of(node: &dyn ExecutionPlan) -> Option<Self> {
        if let Some(scan) = node.downcast_ref::<KafkaScanExec>() {
            Some(ScanWire::Kafka(Box::new(scan.to_wire())))
        } else if let Some(scan) = node.downcast_ref::<JsonLinesScanExec>() {
            Some(ScanWire::JsonLines(scan.to_wire()))
        } else {
            node.downcast_ref::<CustomersExec>()
                .map(|scan| ScanWire::Customers(scan.to_wire()))
        }
    }
}

/// The logical codec of a Pulse cluster: Pulse's tables, then Ballista's.
#[derive(Debug)]
pub struct PulseLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
    settings: Arc<ClusterSettings>,
    /// Tables decoded and still in use, by their encoding: the scans of
    /// one table in one plan share one decoded table, and so one cut of
    /// the topic and one snapshot of the lake per statement, as they do
    /// in the client's session.
    decoded: Mutex<Vec<Decoded>>,
}

/// A decoded table and the buffer it came from.
type Decoded = (Vec<u8>, Weak<dyn TableProvider>);

impl PulseLogicalCodec {
    /// A codec whose decoded tables get this process's `settings`.
    pub fn new(settings: Arc<ClusterSettings>) -> Self {
        Self {
            ballista: BallistaLogicalExtensionCodec::default(),
            settings,
            decoded: Mutex::new(Vec::new()),
        }
    }

    /// The table still in use that `buf` decoded to, if any.
    fn in_use(&self, buf: &[u8]) -> Option<Arc<dyn TableProvider>> {
        let mut decoded = self.decoded.lock().ok()?;
        decoded.retain(|(_, table)| table.strong_count() > 0);
        decoded.iter().find(|(b, _)| b == buf).and_then(|(_, t)| t.upgrade())
    }

    fn remember(&self, buf: &[u8], table: &Arc<dyn TableProvider>) {
        if let Ok(mut decoded) = self.decoded.lock() {
            decoded.push((buf.to_vec(), Arc::downgrade(table)));
        }
    }
}

/// The name of a provider's type, from its `Debug` form, for errors.
fn kind_of(table: &dyn TableProvider) -> String {
    let shown = format!("{table:?}");
    shown
        .chars()
        .take_while(|c| !matches!(c, ' ' | '{' | '('))
        .take(60)
        .collect()
}

fn encode_table(table_ref: &TableReference, node: &dyn TableProvider) -> Result<Option<TableWire>> {
    if let Some(t) = node.downcast_ref::<KafkaTable>() {
        return Ok(Some(TableWire::Kafka(t.config().without_secrets())));
    }
    if let Some(t) = node.downcast_ref::<JsonLinesTable>() {
        let (path, policy) = t.source();
        return Ok(Some(TableWire::JsonLines {
            // absolute: the scheduler runs in another directory
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            policy,
        }));
    }
    if let Some(t) = node.downcast_ref::<CustomersTable>() {
        return Ok(Some(TableWire::Customers {
            location: t.location().shared(),
            view: t.view(),
        }));
    }
    if let Some(t) = node.downcast_ref::<LakeOrdersTable>() {
        return Ok(Some(TableWire::LakeOrders {
            lake: t.lake().shared(),
            kafka: t.kafka().config().without_secrets(),
        }));
    }
    if let Some(t) = node.downcast_ref::<MemTable>() {
        let schema = t.schema();
        let mut partitions = Vec::with_capacity(t.batches.len());
        for partition in &t.batches {
            let rows = partition.try_read().map_err(|_| {
                DataFusionError::Plan(format!(
                    "in-memory table '{table_ref}' is being written to and cannot be shipped to the cluster"
                ))
            })?;
            partitions.push(wire::batches_to_ipc(&schema, &rows)?);
        }
        return Ok(Some(TableWire::Memory(partitions)));
    }
    Ok(None)
}

impl LogicalExtensionCodec for PulseLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        match wire::split(buf, "a logical plan node")? {
            (Tag::Ballista, rest) => self.ballista.try_decode(rest, inputs, ctx),
            (Tag::Pulse, _) => Err(DataFusionError::Internal(
                "Pulse has no logical plan nodes of its own to decode".into(),
            )),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        buf.push(Tag::Ballista as u8);
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let what = format!("table '{table_ref}'");
        let rest = match wire::split(buf, &what)? {
            (Tag::Ballista, rest) => return self.ballista.try_decode_table_provider(rest, table_ref, schema, ctx),
            (Tag::Pulse, rest) => rest,
        };
        if let Some(table) = self.in_use(buf) {
            return Ok(table);
        }
        let table: Arc<dyn TableProvider> = match wire::get::<TableWire>(rest, &what)? {
            TableWire::Kafka(cfg) => Arc::new(KafkaTable::new_unchecked(
                cfg.with_client_properties(&self.settings.kafka_client),
            )?),
            TableWire::JsonLines { path, policy } => Arc::new(JsonLinesTable::try_new(path, policy)?),
            TableWire::Customers { location, view } => {
                let opened = storage::reopen(ctx.runtime_env().as_ref(), &location)?;
                Arc::new(CustomersTable::from_location(opened, view))
            }
            TableWire::LakeOrders { lake, kafka } => {
                let lake = Lake::reopen(ctx.runtime_env().as_ref(), &lake)?;
                let kafka = KafkaTable::new_unchecked(kafka.with_client_properties(&self.settings.kafka_client))?;
                Arc::new(LakeOrdersTable::try_new(lake, kafka)?)
            }
            TableWire::Memory(partitions) => {
                let partitions = partitions
                    .iter()
                    .map(|p| wire::ipc_to_batches(p))
                    .collect::<Result<Vec<_>>>()?;
                Arc::new(MemTable::try_new(schema, partitions)?)
            }
        };
        self.remember(buf, &table);
        Ok(table)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match encode_table(table_ref, node.as_ref())? {
            Some(table) => wire::put(buf, &table),
            None => Err(DataFusionError::NotImplemented(format!(
                "table '{table_ref}' ({}) cannot be shipped to a Ballista cluster: Pulse ships Kafka \
                 topics, JSON-lines files, customer batches, the lake's orders, Parquet files and \
                 in-memory tables; run this query without --cluster",
                kind_of(node.as_ref())
            ))),
        }
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}

/// The physical codec of a Pulse cluster: Pulse's scans, then Ballista's.
#[derive(Debug)]
pub struct PulsePhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
    settings: Arc<ClusterSettings>,
}

impl PulsePhysicalCodec {
    /// A codec whose decoded scans get this process's `settings`.
    pub fn new(settings: Arc<ClusterSettings>) -> Self {
        Self {
            ballista: BallistaPhysicalExtensionCodec::default(),
            settings,
        }
    }
}

impl PulsePhysicalCodec {
    fn decode_scan(
        &self,
        scan: ScanWire,
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(match scan {
            ScanWire::Kafka(scan) => {
                let cfg = scan
                    .config()
                    .clone()
                    .with_client_properties(&self.settings.kafka_client);
                Arc::new(KafkaScanExec::from_wire(*scan, cfg)?)
            }
            ScanWire::JsonLines(scan) => Arc::new(JsonLinesScanExec::from_wire(scan)?),
            ScanWire::Customers(scan) => Arc::new(CustomersExec::from_wire(scan, ctx.runtime_env().as_ref())?),
            ScanWire::Sliced(scan) => {
                let [selector] = inputs else {
                    return Err(DataFusionError::Internal(format!(
                        "a sliced Pulse scan needs one input (its selector), not {}",
                        inputs.len()
                    )));
                };
                let scan = self.decode_scan(*scan, &[], ctx)?;
                Arc::new(SlicedScanExec::with_selector(scan, Arc::clone(selector))?)
            }
        })
    }
}

impl PhysicalExtensionCodec for PulsePhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rest = match wire::split(buf, "a physical plan node")? {
            (Tag::Ballista, rest) => return self.ballista.try_decode(rest, inputs, ctx, proto_converter),
            (Tag::Pulse, rest) => rest,
        };
        self.decode_scan(wire::get::<ScanWire>(rest, "a Pulse scan")?, inputs, ctx)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(mut scan) = ScanWire::of_sliced(node.as_ref())? else {
            let name = node.name().to_string();
            buf.push(Tag::Ballista as u8);
            return self.ballista.try_encode(node, buf, proto_converter).map_err(|e| {
                DataFusionError::NotImplemented(format!(
                    "plan node {name} cannot be shipped to a Ballista executor: {e}"
                ))
            });
        };
        // the scheduler's own client properties stay on the scheduler
        if let ScanWire::Sliced(inner) = &mut scan
            && let ScanWire::Kafka(kafka) = inner.as_mut()
        {
            kafka.drop_local(&self.settings.kafka_client);
        }
        wire::put(buf, &scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::CustomerBatchesConfig;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::execution::runtime_env::RuntimeEnv;

    fn encoded(table: Arc<dyn TableProvider>) -> String {
        let codec = PulseLogicalCodec::new(Arc::new(ClusterSettings::default()));
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&TableReference::bare("t"), table, &mut buf)
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[test]
    fn secrets_never_travel_in_a_shipped_table() {
        let kafka = KafkaTableConfig::new("b:9092", "orders")
            .with_client_property("sasl.password", "K4FKA-S3CRET")
            .with_client_property("ssl.key.password", "K3Y-S3CRET")
            .with_client_property("security.protocol", "SASL_SSL");
        let shipped = encoded(Arc::new(KafkaTable::new_unchecked(kafka).unwrap()));
        assert!(!shipped.contains("S3CRET"), "{shipped}");
        assert!(
            shipped.contains("SASL_SSL"),
            "other client properties travel: {shipped}"
        );

        let customers = CustomerBatchesConfig::new("s3://bucket/customers/")
            .with_aws("access_key_id", "AK-S3CRET")
            .with_aws("secret_access_key", "SK-S3CRET")
            .with_aws("sse_customer_key_base64", "SSE-S3CRET")
            .with_aws("endpoint", "http://minio:9000");
        let table = CustomersTable::try_new(customers, &RuntimeEnv::default()).unwrap();
        let shipped = encoded(Arc::new(table));
        assert!(!shipped.contains("S3CRET"), "{shipped}");
        assert!(
            shipped.contains("http://minio:9000"),
            "where the store is travels: {shipped}"
        );
    }

    #[tokio::test]
    async fn a_schedulers_own_client_properties_stay_home() {
        use datafusion::prelude::{SessionConfig, SessionContext};
        let broker = rdkafka::mocking::MockCluster::new(1).unwrap();
        broker.create_topic("orders", 2, 1).unwrap();
        let settings = ClusterSettings {
            kafka_client: [("client.rack".to_string(), "scheduler-rack".to_string())].into(),
        };
        let cfg = KafkaTableConfig::new(broker.bootstrap_servers(), "orders")
            .with_client_property("client.id", "from-the-client")
            .with_client_properties(&settings.kafka_client);
        let table = KafkaTable::new_unchecked(cfg).unwrap();
        // a scan planned in a scheduler's session
        let config = SessionConfig::new().with_extension(Arc::new(super::super::slice::SliceForTasks));
        let state = SessionContext::new_with_config(config).state();
        let plan = table.scan(&state, None, &[], None).await.unwrap();
        let codec = PulsePhysicalCodec::new(Arc::new(settings));
        let mut buf = Vec::new();
        codec
            .try_encode(
                plan,
                &mut buf,
                &datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {},
            )
            .unwrap();
        let shipped = String::from_utf8_lossy(&buf);
        assert!(!shipped.contains("scheduler-rack"), "{shipped}");
        assert!(shipped.contains("from-the-client"), "{shipped}");
    }

    #[test]
    fn one_encoded_table_decodes_to_one_table_while_in_use() {
        let codec = PulseLogicalCodec::new(Arc::new(ClusterSettings::default()));
        let table: Arc<dyn TableProvider> =
            Arc::new(KafkaTable::new_unchecked(KafkaTableConfig::new("b:9092", "orders")).unwrap());
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&TableReference::bare("orders"), table, &mut buf)
            .unwrap();
        let ctx = datafusion::prelude::SessionContext::new().task_ctx();
        let decode = || {
            codec
                .try_decode_table_provider(&buf, &TableReference::bare("orders"), Arc::new(Schema::empty()), &ctx)
                .unwrap()
        };
        let (a, b) = (decode(), decode());
        assert!(Arc::ptr_eq(&a, &b), "two scans of one table in one plan share it");
        drop((a, b));
        assert!(codec.in_use(&buf).is_none(), "a table no plan holds is forgotten");
    }
}
