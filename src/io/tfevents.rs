//! TensorBoard's event files, the writing side: [`EventWriter`].
//!
//! A run's folder holds files named `events.out.tfevents.{seconds}.{host}.{pid}.{n}.v2`, each
//! a sequence of TFRecords, each record one serialized `Event` protobuf:
//!
//! ```text
//! record  = length: u64 LE | masked_crc32c(length bytes): u32 LE | data | masked_crc32c(data): u32 LE
//! masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8          (wrapping, u32)
//! Event   = wall_time: double (1) | step: int64 (2) | file_version: string (3)
//!         | graph_def: bytes (4) | summary: Summary (5)
//! Summary = value: repeated Value (1)
//! Value   = tag: string (1) | simple_value: float (2) | histo: HistogramProto (5)
//!         | tensor: TensorProto (8) | metadata: SummaryMetadata (9)
//! ```
//!
//! (tensorflow/core/util/event.proto, framework/summary.proto, lib/io/record_writer.cc.) The
//! first record names the format (`brain.Event:2`). Scalars are written as TensorFlow 2's
//! `tf.summary.scalar` (and so Keras) writes them, a `float` tensor of shape `[]` under the
//! `scalars` plugin: the History's `f64` value rounded to `f32` (TensorBoard's default reader,
//! its Rust data server, takes no other scalar type). Histograms use the classic `HistogramProto`
//! (30 equal buckets between the least and greatest value, as `tf.summary.histogram`'s
//! default), which TensorBoard reads as its own.
//!
//! Records are encoded into a buffer as they come (no allocation once the buffer has grown to
//! an epoch's worth) and appended to the file by [`EventWriter::flush`]: a process killed
//! between flushes leaves every earlier record whole, and a record cut short by a full disk
//! is the last one (TensorBoard's reader stops there, with what came before).

use super::protobuf::Message;
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `Event.file_version`: the format TensorBoard expects.
const FILE_VERSION: &str = "brain.Event:2";

/// Buckets of a histogram, as `tf.summary.histogram`'s default.
pub const HISTOGRAM_BUCKETS: usize = 30;

/// TensorFlow's `DataType` values used here.
const DT_FLOAT: u64 = 1;
const DT_STRING: u64 = 7;

/// `SummaryMetadata.data_class`: a scalar series, a tensor series.
const DATA_CLASS_SCALAR: u64 = 1;
const DATA_CLASS_TENSOR: u64 = 2;

/// Event files this process has created: a run's files never share a name.
static CREATED: AtomicUsize = AtomicUsize::new(0);

/// One node of the graph TensorBoard's Graphs tab draws (a `NodeDef`): a layer or an input.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// The node's name: the layer's (`dense_1`) or the input's.
    pub name: String,
    /// What it computes: the layer's class (`Dense`), `Placeholder` for an input.
    pub op: String,
    /// The names of the nodes it reads.
    pub inputs: Vec<String>,
    /// Shown beside it: the output shape, say (`attr` entries of string values).
    pub attrs: Vec<(String, String)>,
}

/// Appends events to one new event file in a run's folder. See the [module docs](self).
///
/// ```no_run
/// use minibatch::io::tfevents::EventWriter;
/// let mut w = EventWriter::create("logs/train".as_ref()).unwrap();
/// w.scalar("epoch_loss", 0, 0.693);
/// w.flush().unwrap();
/// ```
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: std::fs::File,
    /// Framed records not yet written.
    pending: Vec<u8>,
    /// Reused encoders: the event, its summary, the value, and parts of the value (so that
    /// recording allocates nothing once they have grown).
    event: Message,
    summary: Message,
    value: Message,
    part: Message,
    inner: Message,
    metadata: Message,
    /// A histogram's bucket limits and counts.
    limits: Vec<f64>,
    counts: Vec<f64>,
}

impl EventWriter {
    /// Creates `dir` (and its parents) if missing and a new event file in it, its first record
    /// naming the format (written at once: TensorBoard sees the run from the start).
    ///
    /// # Errors
    /// [`Error::Io`] naming the folder or file when `dir` is a file, cannot be created or
    /// written in.
    pub fn create(dir: &Path) -> Result<EventWriter> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))?;
        let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().replace(['/', '\\'], "_"))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let name = format!("events.out.tfevents.{seconds}.{host}.{}.{n}.v2", std::process::id());
        let path = dir.join(name);
        let file =
            std::fs::OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| Error::io(&path, &e))?;
        let mut w = EventWriter {
            path,
            file,
            pending: Vec::new(),
            event: Message::new(),
            summary: Message::new(),
            value: Message::new(),
            part: Message::new(),
            inner: Message::new(),
            metadata: Message::new(),
            limits: Vec::with_capacity(HISTOGRAM_BUCKETS),
            counts: Vec::with_capacity(HISTOGRAM_BUCKETS),
        };
        w.event.double(1, wall_time()).string(3, FILE_VERSION);
        w.frame_event();
        w.flush()?;
        Ok(w)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A scalar `value` at `step` under `tag` (`epoch_loss`): a `float` tensor of shape `[]`
    /// under the `scalars` plugin, `value` rounded to the nearest `f32`.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) {
        // TensorProto: dtype (1), tensor_shape (2: empty for a scalar), float_val (5).
        self.part.clear();
        self.part.varint(1, DT_FLOAT).message(2, &Message::new()).packed_floats(5, &[value as f32]);
        self.plugin_value(tag, "scalars", DATA_CLASS_SCALAR);
        self.summary_event(step);
    }

    /// The histogram of `values` at `step` under `tag`: [`HISTOGRAM_BUCKETS`] equal buckets
    /// between the least and greatest finite value (one bucket when they are equal), with
    /// the count, sum and sum of squares. Values that are not finite are left out.
    pub fn histogram(&mut self, tag: &str, step: i64, values: &[f32]) {
        let finite = || values.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v));
        let (mut lo, mut hi, mut n, mut sum, mut squares) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0.0);
        for v in finite() {
            lo = lo.min(v);
            hi = hi.max(v);
            n += 1.0;
            sum += v;
            squares += v * v;
        }
        self.limits.clear();
        self.counts.clear();
        if n > 0.0 {
            let buckets = if hi > lo { HISTOGRAM_BUCKETS } else { 1 };
            let width = (hi - lo) / buckets as f64;
            for b in 0..buckets {
                self.limits.push(if b + 1 == buckets { hi } else { lo + width * (b + 1) as f64 });
            }
            self.counts.resize(buckets, 0.0);
            for v in finite() {
                let b = if width > 0.0 { (((v - lo) / width) as usize).min(buckets - 1) } else { 0 };
                self.counts[b] += 1.0;
            }
        } else {
            (lo, hi) = (0.0, 0.0);
        }
        // HistogramProto: min (1), max (2), num (3), sum (4), sum_squares (5),
        // bucket_limit (6), bucket (7).
        self.part.clear();
        self.part.double(1, lo).double(2, hi).double(3, n).double(4, sum).double(5, squares);
        self.part.packed_doubles(6, &self.limits).packed_doubles(7, &self.counts);
        self.value.clear();
        self.value.string(1, tag).message(5, &self.part);
        self.summary_event(step);
    }

    /// `text` (Markdown) at `step` under `tag`: a string tensor under the `text` plugin.
    pub fn text(&mut self, tag: &str, step: i64, text: &str) {
        // TensorProto: dtype (1), tensor_shape (2), string_val (8).
        self.part.clear();
        self.part.varint(1, DT_STRING).message(2, &Message::new()).bytes_field(8, text.as_bytes());
        self.plugin_value(tag, "text", DATA_CLASS_TENSOR);
        self.summary_event(step);
    }

    /// The model's graph, for the Graphs tab: a `GraphDef` of `nodes`.
    pub fn graph(&mut self, nodes: &[GraphNode]) {
        let mut graph = Message::new();
        for node in nodes {
            // NodeDef: name (1), op (2), input (3), attr (5: map<string, AttrValue>).
            let mut def = Message::new();
            def.string(1, &node.name).string(2, &node.op);
            node.inputs.iter().for_each(|i| {
                def.string(3, i);
            });
            for (key, value) in &node.attrs {
                // AttrValue: s (2, bytes); a map entry: key (1), value (2).
                let mut attr = Message::new();
                attr.bytes_field(2, value.as_bytes());
                let mut entry = Message::new();
                entry.string(1, key).message(2, &attr);
                def.message(5, &entry);
            }
            graph.message(1, &def);
        }
        // GraphDef.versions (4): VersionDef.producer (1).
        let mut versions = Message::new();
        versions.varint(1, 22);
        graph.message(4, &versions);
        self.event.clear();
        self.event.double(1, wall_time()).bytes_field(4, graph.bytes());
        self.frame_event();
    }

    /// Appends the events recorded since the last flush to the file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file (a full disk, say): the events before stay readable.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(&self.pending).and_then(|_| self.file.flush());
        self.pending.clear();
        written.map_err(|e| Error::io(&self.path, &e))
    }

    /// `self.value` as a `Summary.Value` of tag `tag`, holding `self.part` as its tensor under
    /// `plugin`'s metadata.
    fn plugin_value(&mut self, tag: &str, plugin: &str, data_class: u64) {
        // SummaryMetadata: plugin_data (1: PluginData { plugin_name (1) }), data_class (4).
        self.inner.clear();
        self.inner.string(1, plugin);
        self.metadata.clear();
        self.metadata.message(1, &self.inner).varint(4, data_class);
        self.value.clear();
        self.value.string(1, tag).message(8, &self.part).message(9, &self.metadata);
    }

    /// An event at `step` holding `self.value`, framed into the pending records.
    fn summary_event(&mut self, step: i64) {
        self.summary.clear();
        self.summary.message(1, &self.value);
        self.event.clear();
        self.event.double(1, wall_time()).varint(2, step as u64).message(5, &self.summary);
        self.frame_event();
    }

    /// `self.event` as a TFRecord at the end of the pending records.
    fn frame_event(&mut self) {
        let data = self.event.bytes();
        let length = (data.len() as u64).to_le_bytes();
        self.pending.extend_from_slice(&length);
        self.pending.extend_from_slice(&masked_crc(&length).to_le_bytes());
        self.pending.extend_from_slice(data);
        self.pending.extend_from_slice(&masked_crc(data).to_le_bytes());
    }
}

/// TFRecord's masked CRC-32C (Castagnoli) of `bytes`.
pub fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Seconds since the Unix epoch, as `Event.wall_time`.
fn wall_time() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32C's check value, and TensorFlow's masking of it.
    /// The check value masked, computed apart from this code.
    const MASKED: u32 = 0xc78a_b0e5;

    #[test]
    fn crc_is_castagnolis_masked_as_tfrecord_masks_it() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        // TensorFlow's mask, ((crc >> 15) | (crc << 17)) + 0xa282ead8, worked out in Python.
        assert_eq!(masked_crc(b"123456789"), MASKED);
    }

    /// Every record's framing checks: lengths, both CRCs; the first event names the format.
    #[test]
    fn records_are_framed_and_the_first_names_the_format() {
        let dir = std::env::temp_dir().join(format!("minibatch-tfevents-{}", std::process::id()));
        let mut w = EventWriter::create(&dir).unwrap();
        w.scalar("epoch_loss", 0, 0.5);
        w.histogram("dense/kernel/histogram", 0, &[1.0, 2.0, 2.0, f32::NAN]);
        w.text("config", 0, "batch size 32");
        w.graph(&[GraphNode { name: "x".into(), op: "Placeholder".into(), inputs: vec![], attrs: vec![] }]);
        w.flush().unwrap();
        let bytes = std::fs::read(w.path()).unwrap();
        let mut at = 0;
        let mut records = Vec::new();
        while at < bytes.len() {
            let length = &bytes[at..at + 8];
            let n = u64::from_le_bytes(length.try_into().unwrap()) as usize;
            assert_eq!(u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()), masked_crc(length));
            let data = &bytes[at + 12..at + 12 + n];
            assert_eq!(u32::from_le_bytes(bytes[at + 12 + n..at + 16 + n].try_into().unwrap()), masked_crc(data));
            records.push(data.to_vec());
            at += 16 + n;
        }
        assert_eq!(records.len(), 5);
        assert!(records[0].windows(FILE_VERSION.len()).any(|w| w == FILE_VERSION.as_bytes()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
