//! The agent's protocol: length-framed, versioned, compact.
//!
//! A frame is a 4-byte little-endian length, then a kind byte and its body.
//! Both sides start with a `Hello` naming the protocol; a side that meets
//! another protocol refuses it, naming both. Integers are LEB128 varints,
//! so a container's figures in a batch take about 40 bytes:
//!
//! * agent → dashboard: `Hello`, `Batch` (figures), `NoCgroup` (ids it
//!   cannot read), `Fatal` (why the agent cannot read figures at all).
//! * dashboard → agent: `Hello`, `Set` (the containers to read, in full,
//!   each time it changes).
//!
//! In a batch a container is a small number; the id is sent with it the
//! first time in a table epoch. The agent starts a new epoch whenever it
//! takes a new set, so neither side keeps numbers of containers gone.

use crate::varint::{VarintError, get, get_i, put, put_i};
use chrono::{DateTime, TimeDelta, Utc};

use crate::stats::{Counters, Sample};

/// This build's protocol. Change it with any change to the frames below.
pub const PROTOCOL: u16 = 1;
/// The first bytes of a hello: what tells the agent's output apart from a
/// shell's startup file printing on stdout.
const MAGIC: &[u8; 8] = b"ADECKAGT";
/// No frame is larger: more is garbage, not a batch (20 000 containers).
pub const MAX_FRAME: usize = 4 << 20;

const HELLO: u8 = 1;
const BATCH: u8 = 2;
const NO_CGROUP: u8 = 3;
const FATAL: u8 = 4;
const SET: u8 = 16;

/// What each side says first.
#[derive(Clone, Debug, PartialEq)]
pub struct Hello {
    pub protocol: u16,
    /// The agile-deck version that speaks it (for the messages).
    pub version: String,
    /// The cgroup version the agent reads (1 or 2; 0 from the dashboard).
    pub cgroup: u8,
    /// The host's memory (limits are capped at it; 0 from the dashboard).
    pub host_mem: u64,
}

impl Hello {
    pub fn ours(cgroup: u8, host_mem: u64) -> Hello {
        Hello {
            protocol: PROTOCOL,
            version: env!("CARGO_PKG_VERSION").into(),
            cgroup,
            host_mem,
        }
    }
}

/// A container to read, as the dashboard names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub id: String,
    pub pid: Option<u32>,
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Hello(Hello),
    /// Figures read at about `at`, by container id.
    Batch {
        at: DateTime<Utc>,
        samples: Vec<(String, Sample)>,
    },
    NoCgroup(Vec<String>),
    Fatal(String),
    Set(Vec<Wanted>),
}

/// Why bytes are not a frame.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the frame ends early")]
    Short,
    #[error("a frame of {0} bytes (at most {MAX_FRAME})")]
    TooLarge(usize),
    #[error("not a frame of the agent's protocol (kind {0})")]
    Kind(u8),
    #[error("not the agent's hello: {0}")]
    NotHello(String),
    #[error("container number {0} was never named")]
    Unnamed(u64),
    #[error("a number too large")]
    Overflow,
}

/// Appends one whole frame (length included) to `out`.
pub fn encode_hello(h: &Hello, out: &mut Vec<u8>) {
    frame(out, HELLO, |b| {
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&h.protocol.to_le_bytes());
        put_str(b, &h.version);
        b.push(h.cgroup);
        put(b, h.host_mem);
    });
}

pub fn encode_set(set: &[Wanted], out: &mut Vec<u8>) {
    frame(out, SET, |b| {
        put(b, set.len() as u64);
        for w in set {
            put_str(b, &w.id);
            put(b, w.pid.map_or(0, |p| u64::from(p) + 1));
        }
    });
}

pub fn encode_no_cgroup(ids: &[String], out: &mut Vec<u8>) {
    frame(out, NO_CGROUP, |b| {
        put(b, ids.len() as u64);
        for id in ids {
            put_str(b, id);
        }
    });
}

pub fn encode_fatal(why: &str, out: &mut Vec<u8>) {
    frame(out, FATAL, |b| put_str(b, why));
}

/// The agent's numbering of containers within one epoch.
#[derive(Debug, Default)]
pub struct Numbering {
    epoch: u64,
    numbers: std::collections::HashMap<String, u64>,
}

impl Numbering {
    /// A new set: numbers start again (the ids go with the next batch).
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
        self.numbers.clear();
    }

    pub fn encode_batch(
        &mut self,
        at: DateTime<Utc>,
        samples: &[(String, Sample)],
        host_mem: u64,
        out: &mut Vec<u8>,
    ) {
        frame(out, BATCH, |b| {
            put(b, self.epoch);
            put_i(b, at.timestamp_micros());
            put(b, samples.len() as u64);
            for (id, s) in samples {
                let next = self.numbers.len() as u64;
                match self.numbers.get(id) {
                    Some(n) => put(b, n << 1),
                    None => {
                        self.numbers.insert(id.clone(), next);
                        put(b, (next << 1) | 1);
                        put_str(b, id);
                    }
                }
                put_sample(b, at, s, host_mem);
            }
        });
    }
}

/// The dashboard's side of the numbering: container numbers of the
/// current epoch.
#[derive(Debug, Default)]
pub struct Names {
    epoch: u64,
    ids: Vec<String>,
}

/// Reads frames out of a byte stream: `push` what arrived, then take
/// every whole frame with `frame`.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    /// The other side's memory, from its hello (batches say 0 for it).
    host_mem: u64,
    names: Names,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, None until one is there. An error leaves the
    /// stream unusable: the other side is not speaking this protocol.
    pub fn frame(&mut self) -> Result<Option<Frame>, WireError> {
        let rest = &self.buf[self.start..];
        let Some(len) = rest.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME {
            return Err(WireError::TooLarge(len));
        }
        let Some(body) = rest.get(4..4 + len) else {
            return Ok(None);
        };
        let body = body.to_vec();
        self.start += 4 + len;
        if self.start > 1 << 16 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let frame = self.decode(&body)?;
        if let Frame::Hello(h) = &frame {
            self.host_mem = h.host_mem;
        }
        Ok(Some(frame))
    }

    fn decode(&mut self, body: &[u8]) -> Result<Frame, WireError> {
        let (&kind, mut b) = body.split_first().ok_or(WireError::Short)?;
        let r = &mut b;
        Ok(match kind {
            HELLO => {
                let magic = take(r, MAGIC.len())?;
                if magic != MAGIC {
                    return Err(WireError::NotHello(
                        String::from_utf8_lossy(body).chars().take(80).collect(),
                    ));
                }
                let protocol = u16::from_le_bytes(take(r, 2)?.try_into().expect("2 bytes"));
                // A hello of another protocol may say no more than this:
                // the caller refuses it by its number.
                if protocol != PROTOCOL {
                    return Ok(Frame::Hello(Hello {
                        protocol,
                        version: get_str(r).unwrap_or_default(),
                        cgroup: 0,
                        host_mem: 0,
                    }));
                }
                Frame::Hello(Hello {
                    protocol,
                    version: get_str(r)?,
                    cgroup: *take(r, 1)?.first().expect("1 byte"),
                    host_mem: get(r)?,
                })
            }
            BATCH => {
                let epoch = get(r)?;
                if epoch != self.names.epoch {
                    self.names = Names {
                        epoch,
                        ids: Vec::new(),
                    };
                }
                let at = DateTime::from_timestamp_micros(get_i(r)?).ok_or(WireError::Overflow)?;
                let n = get(r)?;
                let mut samples = Vec::with_capacity((n as usize).min(body.len()));
                for _ in 0..n {
                    let key = get(r)?;
                    let number = key >> 1;
                    let id = if key & 1 == 1 {
                        let id = get_str(r)?;
                        if number != self.names.ids.len() as u64 {
                            return Err(WireError::Unnamed(number));
                        }
                        self.names.ids.push(id.clone());
                        id
                    } else {
                        self.names
                            .ids
                            .get(number as usize)
                            .ok_or(WireError::Unnamed(number))?
                            .clone()
                    };
                    samples.push((id, get_sample(r, at, self.host_mem)?));
                }
                Frame::Batch { at, samples }
            }
            NO_CGROUP => {
                let n = get(r)?;
                let mut ids = Vec::new();
                for _ in 0..n {
                    ids.push(get_str(r)?);
                }
                Frame::NoCgroup(ids)
            }
            FATAL => Frame::Fatal(get_str(r)?),
            SET => {
                let n = get(r)?;
                let mut set = Vec::new();
                for _ in 0..n {
                    let id = get_str(r)?;
                    let pid = match get(r)? {
                        0 => None,
                        p => Some(u32::try_from(p - 1).map_err(|_| WireError::Overflow)?),
                    };
                    set.push(Wanted { id, pid });
                }
                Frame::Set(set)
            }
            other => return Err(WireError::Kind(other)),
        })
    }
}

/// A frame: its length, then `kind` and what `body` writes.
fn frame(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    body(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// A sample: its read time (µs after the batch's), CPU in hundredths of a
/// percent, memory (the limit 0 when it is the host's), pids, rates in
/// bytes/s and the counters behind them.
fn put_sample(b: &mut Vec<u8>, at: DateTime<Utc>, s: &Sample, host_mem: u64) {
    let read_at = s.counters.at.unwrap_or(at);
    put(
        b,
        (read_at - at).num_microseconds().unwrap_or(0).max(0) as u64,
    );
    put(b, (s.cpu_pct * 100.0).round().max(0.0) as u64);
    put(b, s.mem_used);
    put(
        b,
        if s.mem_limit == host_mem {
            0
        } else {
            s.mem_limit
        },
    );
    put(b, s.pids);
    for rate in [
        s.net_rx_rate,
        s.net_tx_rate,
        s.blk_read_rate,
        s.blk_write_rate,
    ] {
        put(b, rate.round().max(0.0) as u64);
    }
    let c = &s.counters;
    for v in [c.net_rx, c.net_tx, c.blk_read, c.blk_write] {
        put(b, v);
    }
}

fn get_sample(r: &mut &[u8], at: DateTime<Utc>, host_mem: u64) -> Result<Sample, WireError> {
    let after = i64::try_from(get(r)?).map_err(|_| WireError::Overflow)?;
    let read_at = at
        .checked_add_signed(TimeDelta::microseconds(after))
        .ok_or(WireError::Overflow)?;
    let cpu_pct = get(r)? as f64 / 100.0;
    let mem_used = get(r)?;
    let mem_limit = match get(r)? {
        0 => host_mem,
        l => l,
    };
    let pids = get(r)?;
    let mut rates = [0.0; 4];
    for v in &mut rates {
        *v = get(r)? as f64;
    }
    let mut counters = [0; 4];
    for v in &mut counters {
        *v = get(r)?;
    }
    Ok(Sample {
        cpu_pct,
        mem_used,
        mem_limit,
        pids,
        net_rx_rate: rates[0],
        net_tx_rate: rates[1],
        blk_read_rate: rates[2],
        blk_write_rate: rates[3],
        counters: Counters {
            at: Some(read_at),
            net_rx: counters[0],
            net_tx: counters[1],
            blk_read: counters[2],
            blk_write: counters[3],
        },
    })
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

fn get_str(r: &mut &[u8]) -> Result<String, WireError> {
    let len = usize::try_from(get(r)?).map_err(|_| WireError::Overflow)?;
    let bytes = take(r, len)?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if r.len() < n {
        return Err(WireError::Short);
    }
    let (head, rest) = r.split_at(n);
    *r = rest;
    Ok(head)
}

impl From<VarintError> for WireError {
    fn from(e: VarintError) -> WireError {
        match e {
            VarintError::Short => WireError::Short,
            VarintError::Overflow => WireError::Overflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: DateTime<Utc>, cpu: f64, limit: u64) -> Sample {
        Sample {
            cpu_pct: cpu,
            mem_used: 48 << 20,
            mem_limit: limit,
            pids: 7,
            net_rx_rate: 1234.0,
            net_tx_rate: 99.0,
            blk_read_rate: 0.0,
            blk_write_rate: 4096.0,
            counters: Counters {
                at: Some(at + TimeDelta::microseconds(350)),
                net_rx: 9_876_543,
                net_tx: 123_456,
                blk_read: 1 << 30,
                blk_write: 77,
            },
        }
    }

    #[test]
    fn frames_round_trip_and_containers_are_named_once_an_epoch() {
        let mem = 24 << 30;
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let mut out = Vec::new();
        encode_hello(&Hello::ours(2, mem), &mut out);
        let mut n = Numbering::default();
        let batch = vec![
            (a.clone(), sample(at, 12.34, mem)),
            (b.clone(), sample(at, 0.0, 256 << 20)),
        ];
        n.encode_batch(at, &batch, mem, &mut out);
        let first = out.len();
        n.encode_batch(at, &batch, mem, &mut out);
        let second = out.len() - first;
        n.next_epoch();
        n.encode_batch(at, &batch[1..], mem, &mut out);
        encode_set(
            &[Wanted {
                id: a.clone(),
                pid: Some(4242),
            }],
            &mut out,
        );
        encode_no_cgroup(std::slice::from_ref(&b), &mut out);
        encode_fatal("no cgroup2 file system is mounted", &mut out);

        let mut d = Decoder::default();
        // Byte by byte: frames come whole only when all of them arrived.
        let mut frames = Vec::new();
        for byte in &out {
            d.push(std::slice::from_ref(byte));
            while let Some(f) = d.frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 7);
        assert_eq!(frames[0], Frame::Hello(Hello::ours(2, mem)));
        let Frame::Batch {
            at: got_at,
            samples,
        } = &frames[1]
        else {
            panic!("{:?}", frames[1])
        };
        assert_eq!(*got_at, at);
        assert_eq!(samples, &batch, "every figure comes through as it was");
        assert_eq!(frames[2], frames[1], "named by number the second time");
        let Frame::Batch { samples, .. } = &frames[3] else {
            panic!()
        };
        assert_eq!(samples[0].0, b, "a new epoch names them again");
        assert!(
            second <= 2 * 45 + 16,
            "{second} bytes for two containers' figures"
        );
        assert_eq!(
            frames[4],
            Frame::Set(vec![Wanted {
                id: a,
                pid: Some(4242)
            }])
        );
        assert_eq!(frames[5], Frame::NoCgroup(vec![b]));
        assert_eq!(
            frames[6],
            Frame::Fatal("no cgroup2 file system is mounted".into())
        );
    }

    #[test]
    fn another_protocol_or_no_protocol_is_told_apart() {
        let mut out = Vec::new();
        let mut theirs = Hello::ours(2, 1);
        theirs.protocol = PROTOCOL + 1;
        theirs.version = "9.0.0".into();
        encode_hello(&theirs, &mut out);
        let mut d = Decoder::default();
        d.push(&out);
        let Some(Frame::Hello(h)) = d.frame().unwrap() else {
            panic!()
        };
        assert_eq!((h.protocol, h.version.as_str()), (PROTOCOL + 1, "9.0.0"));
        // A shell's greeting on stdout is not a frame.
        let mut d = Decoder::default();
        d.push(b"Welcome to web-2!\n\n");
        assert!(d.frame().is_err());
        let mut d = Decoder::default();
        d.push(&[9, 0, 0, 0, HELLO, b'x', b'y', 0, 0, 0, 0, 0, 0]);
        assert!(matches!(d.frame(), Err(WireError::NotHello(_))));
    }

    #[test]
    fn varints_at_their_edges() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put(&mut b, v);
            assert_eq!(get(&mut &b[..]).unwrap(), v);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_i(&mut b, v);
            assert_eq!(get_i(&mut &b[..]).unwrap(), v);
        }
        assert_eq!(get(&mut &[0xff; 11][..]), Err(VarintError::Overflow));
        assert_eq!(get(&mut &[0x80][..]), Err(VarintError::Short));
    }
}
