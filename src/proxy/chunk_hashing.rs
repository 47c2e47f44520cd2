//! aws-chunked uploads with their chunks' SHA-256 computed on another core while the request's
//! thread reads the next chunks from the client (issue 13: the one hash pass that verifying the
//! client's chunk signatures needs costs as much CPU as everything else an upload does, in
//! series on the request's thread).
//!
//! The decoder runs in deferred mode ([`ChunkedStream::defer_hashing`]): it hands out every
//! signed chunk unverified. This pipeline gathers an upload's chunks into batches of
//! [`HASH_BATCH_BYTES`], hashes a batch on tokio's blocking pool while the next one is read,
//! and releases chunks strictly in order, each only after its signature verified: no
//! unverified byte goes to the backend. Hand-offs are per batch, not per chunk: two earlier
//! attempts that handed every 64 KiB chunk to another thread lost the overlap to the wake-ups
//! (docs/performance.md, issue 13 fifth and ninth sessions).
//!
//! Memory: only an upload holding one of the [`offload_slots`] gathers a batch; every other
//! one hashes each chunk as it completes, as before the pipeline. So the pipeline holds at most
//! `2 × HASH_BATCH_BYTES` (a batch hashing, the next gathering) per slot, over all uploads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::s3::chunked::{signed_chunk_len, ChunkedStream, Unverified};
use crate::s3::sigv4::SigError;

/// Bytes of an upload's chunks hashed in one hand-off to another core: 512 KiB (default), 8
/// chunks of the SDKs' 64 KiB. Smaller batches cost more wake-ups per byte (at 64 KiB a
/// hand-off cost more than the hash it moved); larger ones hold more of each upload back from
/// the backend and more memory per slot: at 1 MiB the proxy's peak RSS rose 19 MiB on a 64 MiB
/// upload, at 512 KiB 5 MiB, for a throughput difference within noise (docs/performance.md,
/// issue 13 tenth session).
pub const HASH_BATCH_BYTES: usize = 512 * 1024;

/// Uploads gathering or hashing a batch off their thread at once: 1 per core (default). Stops
/// a flood of aws-chunked uploads from holding batches in memory or growing tokio's blocking
/// pool; past it an upload hashes inline, as before the pipeline.
pub fn offload_slots() -> usize {
    static SLOTS: OnceLock<usize> = OnceLock::new();
    *SLOTS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

static OFFLOADED: AtomicUsize = AtomicUsize::new(0);

/// One slot of [`offload_slots`], given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        OFFLOADED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < offload_slots()).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        OFFLOADED.fetch_sub(1, Ordering::AcqRel);
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// A batch being hashed on the blocking pool.
struct Running {
    chunks: Vec<Unverified>,
    hashes: oneshot::Receiver<Vec<[u8; 32]>>,
}

/// A [`ChunkedStream`] in deferred mode with its chunks in flight.
pub struct HashingPipeline {
    stream: ChunkedStream,
    fresh: Vec<Unverified>,
    /// The batch being gathered (only while `slot` is held).
    gathering: Vec<Unverified>,
    gathered: usize,
    running: Option<Running>,
    /// Held from a batch's first chunk until the upload has nothing off its thread.
    slot: Option<Slot>,
}

impl HashingPipeline {
    /// `stream` must be in deferred mode ([`ChunkedStream::defer_hashing`] returned `true`).
    pub fn new(stream: ChunkedStream) -> Self {
        HashingPipeline {
            stream,
            fresh: Vec::new(),
            gathering: Vec::new(),
            gathered: 0,
            running: None,
            slot: None,
        }
    }

    /// The next piece of the client's body (`None` for none); appends to `out` what may be
    /// sent on. With `end`, hashes what is left and finishes the body.
    pub async fn push(
        &mut self,
        input: Option<&[u8]>,
        end: bool,
        out: &mut BytesMut,
    ) -> Result<(), SigError> {
        if let Some(b) = input {
            self.stream.push_deferred(b, &mut self.fresh)?;
        }
        // a batch that is done goes out at once (the backend gets its bytes sooner); its
        // result is taken here, so the batch leaves `running` with it
        let done = match self.running.as_mut().map(|r| r.hashes.try_recv()) {
            Some(Ok(h)) => Some(Some(h)),
            Some(Err(oneshot::error::TryRecvError::Closed)) => Some(None),
            Some(Err(oneshot::error::TryRecvError::Empty)) | None => None,
        };
        if let Some(hashes) = done {
            if let Some(r) = self.running.take() {
                self.release_batch(r.chunks, hashes, out)?;
            }
        }
        let mut fresh = std::mem::take(&mut self.fresh);
        for chunk in fresh.drain(..) {
            if self.slot.is_none() && !end {
                self.slot = Slot::take();
            }
            if self.slot.is_some() {
                self.gathered += chunk.data.len();
                self.gathering.push(chunk);
            } else {
                // no slot (or the body's end): inline, as before the pipeline
                let h = sha256(&chunk.data);
                self.release_earlier(out).await?;
                self.stream.release(chunk, &h, out)?;
            }
            if self.gathered >= HASH_BATCH_BYTES && !end {
                // at most one batch hashing per upload: the previous one goes out first
                self.release_running(out).await?;
                self.spawn_batch();
            }
        }
        self.fresh = fresh;
        if end {
            self.release_earlier(out).await?;
            self.slot = None;
            self.stream.finish(out)?;
        }
        Ok(())
    }

    /// Everything handed out before the chunk now completing: the running batch, then the
    /// gathered one (hashed here: the body ended or the slot is gone).
    async fn release_earlier(&mut self, out: &mut BytesMut) -> Result<(), SigError> {
        self.release_running(out).await?;
        for chunk in std::mem::take(&mut self.gathering) {
            let h = sha256(&chunk.data);
            self.stream.release(chunk, &h, out)?;
        }
        self.gathered = 0;
        Ok(())
    }

    fn spawn_batch(&mut self) {
        let chunks = std::mem::take(&mut self.gathering);
        self.gathered = 0;
        let data: Vec<Bytes> = chunks.iter().map(|c| c.data.clone()).collect();
        let (tx, rx) = oneshot::channel();
        // detached: the result comes back through `tx`; a task lost with the runtime leaves
        // the batch to be hashed inline (`release_batch`)
        drop(tokio::task::spawn_blocking(move || {
            let _ = tx.send(data.iter().map(|d| sha256(d)).collect());
        }));
        self.running = Some(Running { chunks, hashes: rx });
    }

    async fn release_running(&mut self, out: &mut BytesMut) -> Result<(), SigError> {
        let Some(r) = self.running.take() else {
            return Ok(());
        };
        let hashes = r.hashes.await.ok();
        self.release_batch(r.chunks, hashes, out)
    }

    /// Releases a batch in order with the hashes computed for it; a result lost with its task
    /// (the runtime shutting down) is hashed here.
    fn release_batch(
        &mut self,
        chunks: Vec<Unverified>,
        hashes: Option<Vec<[u8; 32]>>,
        out: &mut BytesMut,
    ) -> Result<(), SigError> {
        let hashes = hashes.filter(|h| h.len() == chunks.len());
        // one allocation for the whole batch instead of `out` doubling through it (a re-chained
        // frame is the largest form a chunk leaves in)
        out.reserve(
            chunks
                .iter()
                .map(|c| signed_chunk_len(c.data.len() as u64) as usize)
                .sum(),
        );
        for (i, chunk) in chunks.into_iter().enumerate() {
            let h = hashes
                .as_ref()
                .map_or_else(|| sha256(&chunk.data), |h| h[i]);
            self.stream.release(chunk, &h, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::chunked::{ChunkedDecoder, ChunkedSigner};
    use crate::s3::sigv4::{ChunkVerifier, PayloadMode};

    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

    fn verifier() -> ChunkVerifier {
        ChunkVerifier {
            signing_key: [7; 32],
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            seed_signature: SEED.into(),
        }
    }

    /// A client's signed body of `chunks` chunks of 64 KiB (byte `i` of chunk `c` is `c + i`).
    fn client_body(chunks: usize) -> (Vec<u8>, u64) {
        let v = verifier();
        let mut s = ChunkedSigner::new(v.signing_key, v.amz_date, v.scope, SEED);
        let mut body = Vec::new();
        for c in 0..chunks {
            let data: Vec<u8> = (0..65536).map(|i| (c + i) as u8).collect();
            body.extend_from_slice(&s.sign_chunk(&data));
        }
        body.extend_from_slice(&s.final_chunk());
        (body, chunks as u64 * 65536)
    }

    fn stream(len: u64) -> ChunkedStream {
        let d = ChunkedDecoder::new(
            PayloadMode::StreamingSigned,
            Some(verifier()),
            None,
            Some(len),
        )
        .unwrap();
        ChunkedStream::decode(d)
    }

    /// 40 chunks (2.5 MiB: several batches hashed off the thread, the rest at the end) in pieces
    /// of 20 000 bytes, so chunks complete mid-piece: the decoded output is the client's data,
    /// and a changed byte in the second batch fails the upload with no byte of the changed
    /// chunk (or any later one) released.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn pipeline_releases_verified_chunks_in_order() {
        let (body, len) = client_body(40);
        let want: Vec<u8> = (0..40)
            .flat_map(|c| (0..65536).map(move |i| (c + i) as u8))
            .collect();
        let mut s = stream(len);
        assert!(s.defer_hashing());
        let mut p = HashingPipeline::new(s);
        let mut out = BytesMut::new();
        let pieces: Vec<&[u8]> = body.chunks(20_000).collect();
        for (i, piece) in pieces.iter().enumerate() {
            p.push(Some(piece), i + 1 == pieces.len(), &mut out)
                .await
                .unwrap();
        }
        assert_eq!(&out[..], &want[..]);

        // byte 3 of chunk 20's data changed
        let frame = crate::s3::chunked::signed_chunk_len(65536) as usize;
        let head = frame - 65536 - 2;
        let mut bad = body.clone();
        let at = 20 * frame + head + 3;
        bad[at] ^= 1;
        let mut s = stream(len);
        s.defer_hashing();
        let mut p = HashingPipeline::new(s);
        let mut out = BytesMut::new();
        let pieces: Vec<&[u8]> = bad.chunks(20_000).collect();
        let mut err = None;
        for (i, piece) in pieces.iter().enumerate() {
            if let Err(e) = p.push(Some(piece), i + 1 == pieces.len(), &mut out).await {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(SigError::ChunkSignatureMismatch));
        // at most the 20 chunks before the changed one went out (decode mode holds one byte)
        assert!(out.len() <= 20 * 65536, "{} bytes released", out.len());
        assert_eq!(&out[..], &want[..out.len()]);
    }
}
