use super::*;
use crate::s3::checksum::checksum_base64;
use crate::s3::sigv4::signing_key;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20130524T000000Z";
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
/// AWS `sigv4-streaming.html` example: seed (request) signature and the three chunk
/// signatures for 65536 × 'a', 1024 × 'a', then the empty final chunk.
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const SIG1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
const SIG2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
const SIG3: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

fn key() -> [u8; 32] {
    signing_key(SECRET, "20130524", "us-east-1", "s3")
}

fn verifier(seed: &str) -> ChunkVerifier {
    ChunkVerifier {
        signing_key: key(),
        amz_date: AMZ_DATE.into(),
        scope: SCOPE.into(),
        seed_signature: seed.into(),
    }
}

fn aws_example_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(format!("10000;chunk-signature={SIG1}\r\n").as_bytes());
    b.extend(std::iter::repeat_n(b'a', 65536));
    b.extend_from_slice(format!("\r\n400;chunk-signature={SIG2}\r\n").as_bytes());
    b.extend(std::iter::repeat_n(b'a', 1024));
    b.extend_from_slice(format!("\r\n0;chunk-signature={SIG3}\r\n\r\n").as_bytes());
    b
}

/// Tiny deterministic PRNG (xorshift64) for split points and payloads.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Feeds `body` in pieces of the given sizes (cycled), returning the decoded data.
fn decode_with(
    dec: &mut ChunkedDecoder,
    body: &[u8],
    mut piece: impl FnMut() -> usize,
) -> Result<(Vec<u8>, DecodeSummary)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let n = piece().clamp(1, body.len() - i);
        dec.feed(&body[i..i + n], &mut out)?;
        i += n;
    }
    let summary = dec.finish()?;
    Ok((out.concat(), summary))
}

fn signed_decoder(len: Option<u64>) -> ChunkedDecoder {
    ChunkedDecoder::new(
        PayloadMode::StreamingSigned,
        Some(verifier(SEED)),
        None,
        len,
    )
    .expect("valid decoder")
}

#[test]
fn aws_example_decodes_whole() {
    let mut dec = signed_decoder(Some(66560));
    let (data, summary) = decode_with(&mut dec, &aws_example_body(), || usize::MAX).unwrap();
    assert_eq!(data, vec![b'a'; 66560]);
    assert_eq!(summary.decoded_len, 66560);
    assert!(summary.trailers.is_empty());
    assert!(dec.is_done());
}

#[test]
fn aws_example_decodes_one_byte_at_a_time() {
    let mut dec = signed_decoder(Some(66560));
    let (data, _) = decode_with(&mut dec, &aws_example_body(), || 1).unwrap();
    assert_eq!(data, vec![b'a'; 66560]);
}

#[test]
fn aws_example_decodes_at_random_boundaries() {
    let body = aws_example_body();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..50 {
        let mut dec = signed_decoder(Some(66560));
        let (data, _) = decode_with(&mut dec, &body, || rng.below(300) as usize + 1).unwrap();
        assert_eq!(data.len(), 66560);
    }
}

#[test]
fn reencoding_aws_example_is_byte_identical() {
    let mut signer = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
    let mut out = Vec::new();
    out.extend_from_slice(&signer.sign_chunk(&[b'a'; 65536]));
    assert_eq!(signer.previous_signature(), SIG1);
    out.extend_from_slice(&signer.sign_chunk(&[b'a'; 1024]));
    assert_eq!(signer.previous_signature(), SIG2);
    out.extend_from_slice(&signer.final_chunk());
    assert_eq!(signer.previous_signature(), SIG3);
    assert_eq!(out, aws_example_body());
    // The example's Content-Length is 66824.
    assert_eq!(out.len(), 66824);
    let computed: u64 = [65536, 1024, 0].iter().map(|&n| signed_chunk_len(n)).sum();
    assert_eq!(computed, 66824);
}

/// The re-chaining path signs with the hash the decoder computed (issue 13: one hash pass per
/// byte): AWS's example comes out byte for byte the same, and a re-chained stream of it equals
/// the example (the client's key and seed are reused here, so the chain must be identical).
#[test]
fn signing_with_the_decoders_hash_is_byte_identical() {
    let mut signer = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
    let mut out = BytesMut::new();
    for n in [65536usize, 1024] {
        let data = vec![b'a'; n];
        let hash: [u8; 32] = Sha256::digest(&data).into();
        signer.sign_hashed_chunk_into(&data, &hash, &mut out);
    }
    assert_eq!(signer.previous_signature(), SIG2);
    out.extend_from_slice(&signer.final_chunk());
    assert_eq!(&out[..], &aws_example_body()[..]);

    let body = aws_example_body();
    for step in [1usize, 7, 4096, body.len()] {
        let mut stream = ChunkedStream::rechain(
            signed_decoder(Some(66560)),
            ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED),
        )
        .unwrap();
        let mut out = BytesMut::new();
        for piece in body.chunks(step) {
            stream.push(piece, &mut out).unwrap();
        }
        stream.finish(&mut out).unwrap();
        assert_eq!(&out[..], &body[..], "fed {step} bytes at a time");
    }
}

#[test]
fn tampered_data_is_never_released() {
    let mut body = aws_example_body();
    // Flip a byte inside the second chunk's data.
    let pos = body.len() - 200;
    body[pos] = b'b';
    let mut dec = signed_decoder(Some(66560));
    let mut out = Vec::new();
    let err = body
        .chunks(1000)
        .try_for_each(|p| dec.feed(p, &mut out))
        .unwrap_err();
    assert_eq!(err, SigError::ChunkSignatureMismatch);
    // Only the verified first chunk was released.
    assert_eq!(out.concat().len(), 65536);
    // Poisoned afterwards.
    assert_eq!(
        dec.feed(b"x", &mut out),
        Err(SigError::ChunkSignatureMismatch)
    );
    assert_eq!(dec.finish(), Err(SigError::ChunkSignatureMismatch));
}

#[test]
fn wrong_seed_rejects_first_chunk_before_release() {
    let mut dec = ChunkedDecoder::new(
        PayloadMode::StreamingSigned,
        Some(verifier(SIG3)),
        None,
        None,
    )
    .unwrap();
    let mut out = Vec::new();
    assert_eq!(
        dec.feed(&aws_example_body(), &mut out),
        Err(SigError::ChunkSignatureMismatch)
    );
    assert!(out.is_empty());
}

#[test]
fn reordered_chunks_are_rejected() {
    // Chunk 2 signed as if it were first: the chain binds the order.
    let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
    let c1 = s.sign_chunk(b"first");
    let c2 = s.sign_chunk(b"second");
    let mut body = c2.to_vec();
    body.extend_from_slice(&c1);
    let mut dec = signed_decoder(None);
    assert_eq!(
        dec.feed(&body, &mut Vec::new()),
        Err(SigError::ChunkSignatureMismatch)
    );
}

#[test]
fn truncated_body_is_incomplete() {
    let body = aws_example_body();
    for cut in [10, 100, 65600, body.len() - 90, body.len() - 3] {
        let mut dec = signed_decoder(Some(66560));
        dec.feed(&body[..cut], &mut Vec::new()).unwrap();
        assert_eq!(dec.finish(), Err(SigError::IncompleteBody), "cut at {cut}");
    }
    // Only the final empty line missing: tolerated, everything has verified.
    let mut dec = signed_decoder(Some(66560));
    dec.feed(&body[..body.len() - 2], &mut Vec::new()).unwrap();
    assert!(dec.finish().is_ok());
}

#[test]
fn declared_length_is_enforced() {
    let body = aws_example_body();
    let mut dec = signed_decoder(Some(66561));
    dec.feed(&body, &mut Vec::new()).unwrap_err();
    let mut dec = signed_decoder(Some(66559));
    assert_eq!(
        dec.feed(&body, &mut Vec::new()),
        Err(SigError::IncompleteBody)
    );
}

#[test]
fn trailing_garbage_and_framing_errors() {
    let mut body = aws_example_body();
    body.extend_from_slice(b"junk");
    let mut dec = signed_decoder(None);
    assert!(matches!(
        dec.feed(&body, &mut Vec::new()),
        Err(SigError::MalformedChunk(_))
    ));

    let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
    let good = s.sign_chunk(b"hello").to_vec();
    let cases: Vec<Vec<u8>> = vec![
        // data longer than the size
        String::from_utf8(good.clone())
            .unwrap()
            .replacen("5;", "4;", 1)
            .into_bytes(),
        // missing signature
        b"5\r\nhello\r\n".to_vec(),
        // non-hex size
        format!("zz;chunk-signature={SIG1}\r\n").into_bytes(),
        // bare LF
        format!("5;chunk-signature={SIG1}\n").into_bytes(),
        // short signature
        b"5;chunk-signature=abcd\r\n".to_vec(),
        // oversized header line
        vec![b'0'; MAX_CHUNK_HEADER_BYTES + 10],
        // size over 16 hex digits
        format!("00000000000000001;chunk-signature={SIG1}\r\n").into_bytes(),
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut dec = signed_decoder(None);
        let mut out = Vec::new();
        let r = dec
            .feed(case, &mut out)
            .and_then(|()| dec.finish().map(|_| ()));
        assert!(r.is_err(), "case {i} accepted");
        assert!(out.is_empty(), "case {i} released data");
    }
}

#[test]
fn oversized_chunk_is_refused_before_buffering() {
    let mut dec = signed_decoder(None);
    let header = format!("{:x};chunk-signature={SIG1}\r\n", MAX_CHUNK_BYTES + 1);
    assert!(matches!(
        dec.feed(header.as_bytes(), &mut Vec::new()),
        Err(SigError::MalformedChunk(_))
    ));
}

#[test]
fn trailers_refused_in_plain_signed_mode() {
    let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
    let mut body = s.sign_chunk(b"abc").to_vec();
    body.extend_from_slice(&s.final_chunk_with_trailers(&[(
        "x-amz-checksum-crc32",
        &checksum_base64(ChecksumAlgorithm::Crc32, b"abc"),
    )]));
    let mut dec = signed_decoder(Some(3));
    assert!(matches!(
        dec.feed(&body, &mut Vec::new()),
        Err(SigError::MalformedTrailer(_))
    ));
}

fn random_payload(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next() as u8).collect()
}

fn encode_signed_trailer(
    data: &[u8],
    rng: &mut Rng,
    alg: ChecksumAlgorithm,
    checksum: Option<&str>,
) -> Vec<u8> {
    let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
    let mut body = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let n = (rng.below(5000) as usize + 1).min(data.len() - i);
        body.extend_from_slice(&s.sign_chunk(&data[i..i + n]));
        i += n;
    }
    let value = checksum
        .map(str::to_owned)
        .unwrap_or_else(|| checksum_base64(alg, data));
    body.extend_from_slice(&s.final_chunk_with_trailers(&[(alg.header_name(), &value)]));
    body
}

#[test]
fn signed_trailer_round_trip_random() {
    let mut rng = Rng(42);
    for alg in ChecksumAlgorithm::ALL {
        let len = rng.below(40_000) as usize;
        let data = random_payload(&mut rng, len);
        let body = encode_signed_trailer(&data, &mut rng, alg, None);
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            Some(alg),
            Some(len as u64),
        )
        .unwrap();
        let (decoded, summary) =
            decode_with(&mut dec, &body, || rng.below(700) as usize + 1).unwrap();
        assert_eq!(decoded, data, "{alg:?}");
        assert_eq!(
            summary.checksum,
            Some((alg, checksum_base64(alg, &data))),
            "{alg:?}"
        );
        assert_eq!(summary.trailers.len(), 1);
    }
}

#[test]
fn signed_trailer_one_byte_at_a_time() {
    let mut rng = Rng(7);
    let data = random_payload(&mut rng, 3000);
    let alg = ChecksumAlgorithm::Crc32c;
    let body = encode_signed_trailer(&data, &mut rng, alg, None);
    let mut dec = ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(verifier(SEED)),
        Some(alg),
        Some(3000),
    )
    .unwrap();
    let (decoded, _) = decode_with(&mut dec, &body, || 1).unwrap();
    assert_eq!(decoded, data);
}

#[test]
fn signed_trailer_bad_checksum_and_bad_signature() {
    let mut rng = Rng(9);
    let data = random_payload(&mut rng, 1000);
    let alg = ChecksumAlgorithm::Crc32;
    // Correctly signed, but the checksum is of other data.
    let body = encode_signed_trailer(&data, &mut rng, alg, Some("AAAAAA=="));
    let mut dec = ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(verifier(SEED)),
        Some(alg),
        None,
    )
    .unwrap();
    assert_eq!(
        decode_with(&mut dec, &body, || 97).map(|_| ()),
        Err(SigError::ChecksumMismatch {
            algorithm: "x-amz-checksum-crc32"
        })
    );
    // Valid checksum, trailer signature altered.
    let body = encode_signed_trailer(&data, &mut rng, alg, None);
    let sig_at = body
        .windows(24)
        .position(|w| w == b"x-amz-trailer-signature:")
        .unwrap();
    let at = sig_at + 24;
    let mut tampered = body.clone();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let mut dec = ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(verifier(SEED)),
        Some(alg),
        None,
    )
    .unwrap();
    assert_eq!(
        decode_with(&mut dec, &tampered, || 97).map(|_| ()),
        Err(SigError::ChunkSignatureMismatch)
    );
    // Trailer signature missing entirely.
    let mut missing = body[..sig_at].to_vec();
    missing.extend_from_slice(b"\r\n");
    let mut dec = ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(verifier(SEED)),
        Some(alg),
        None,
    )
    .unwrap();
    assert!(matches!(
        decode_with(&mut dec, &missing, || 97).map(|_| ()),
        Err(SigError::MalformedTrailer(_))
    ));
}

#[test]
fn trailer_of_other_algorithm_is_refused() {
    let mut rng = Rng(11);
    let data = random_payload(&mut rng, 100);
    let body = encode_signed_trailer(&data, &mut rng, ChecksumAlgorithm::Sha256, None);
    let mut dec = ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(verifier(SEED)),
        Some(ChecksumAlgorithm::Crc32),
        None,
    )
    .unwrap();
    assert!(matches!(
        decode_with(&mut dec, &body, || 50).map(|_| ()),
        Err(SigError::MalformedTrailer(_))
    ));
}

fn unsigned_body(data: &[u8], rng: &mut Rng, trailer: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let n = (rng.below(3000) as usize + 1).min(data.len() - i);
        body.extend_from_slice(&unsigned_chunk(&data[i..i + n]));
        i += n;
    }
    body.extend_from_slice(&unsigned_final_chunk(trailer));
    body
}

fn unsigned_decoder(alg: ChecksumAlgorithm, len: Option<u64>) -> ChunkedDecoder {
    ChunkedDecoder::new(PayloadMode::StreamingUnsignedTrailer, None, Some(alg), len).unwrap()
}

#[test]
fn unsigned_trailer_round_trip() {
    let mut rng = Rng(5);
    let data = random_payload(&mut rng, 20_000);
    let alg = ChecksumAlgorithm::Crc64Nvme;
    let sum = checksum_base64(alg, &data);
    let body = unsigned_body(&data, &mut rng, &[(alg.header_name(), &sum)]);
    for step in [1usize, 13, 4096, usize::MAX] {
        let mut dec = unsigned_decoder(alg, Some(20_000));
        let (decoded, summary) = decode_with(&mut dec, &body, || step).unwrap();
        assert_eq!(decoded, data);
        assert_eq!(summary.checksum, Some((alg, sum.clone())));
    }
    // The literal form SDKs send: "0\r\nx-amz-checksum-crc32:…\r\n\r\n".
    let mut dec = unsigned_decoder(ChecksumAlgorithm::Crc32, Some(11));
    let body = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let (decoded, _) = decode_with(&mut dec, body, || 3).unwrap();
    assert_eq!(decoded, b"hello world");
}

/// A body and a predicate its error must satisfy (`None`: the body must be accepted).
type ErrCase = (&'static [u8], Option<fn(&SigError) -> bool>);

#[test]
fn unsigned_trailer_errors() {
    let alg = ChecksumAlgorithm::Crc32;
    let cases: Vec<ErrCase> = vec![
        (
            b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            Some(|e| matches!(e, SigError::ChecksumMismatch { .. })),
        ),
        (
            b"b\r\nhello world\r\n0\r\n\r\n",
            Some(|e| matches!(e, SigError::MalformedTrailer(_))),
        ),
        (
            b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:00\r\n\r\n",
            Some(|e| matches!(e, SigError::MalformedTrailer(_))),
        ),
        (
            b"b;chunk-signature=00\r\nhello world\r\n",
            Some(|e| matches!(e, SigError::MalformedChunk(_))),
        ),
        // Complete apart from the final empty line: accepted by finish().
        (
            b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n",
            None,
        ),
    ];
    for (i, (body, expect)) in cases.into_iter().enumerate() {
        let mut dec = unsigned_decoder(alg, None);
        let r = dec
            .feed(body, &mut Vec::new())
            .and_then(|()| dec.finish().map(|_| ()));
        match (r, expect) {
            (Ok(()), None) => {}
            (Err(e), Some(pred)) => assert!(pred(&e), "case {i}: {e:?}"),
            (r, _) => panic!("case {i}: unexpected {r:?}"),
        }
    }
}

#[test]
fn constructor_checks_mode() {
    assert!(ChunkedDecoder::new(PayloadMode::Unsigned, None, None, None).is_err());
    assert!(ChunkedDecoder::new(PayloadMode::StreamingSigned, None, None, None).is_err());
    assert!(ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(verifier(SEED)),
        None,
        None
    )
    .is_err());
    assert!(ChunkedDecoder::new(
        PayloadMode::StreamingSigned,
        Some(verifier(SEED)),
        Some(ChecksumAlgorithm::Crc32),
        None
    )
    .is_err());
    assert_eq!(
        parse_trailer_header("x-amz-checksum-crc32c"),
        Ok(ChecksumAlgorithm::Crc32c)
    );
    assert!(parse_trailer_header("x-amz-meta-foo").is_err());
}

#[test]
fn stream_rechain_same_key_is_identical_and_other_key_verifies() {
    let body = aws_example_body();
    let mut out = BytesMut::new();
    let mut st = ChunkedStream::rechain(
        signed_decoder(Some(66560)),
        ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED),
    )
    .unwrap();
    for p in body.chunks(1000) {
        st.push(p, &mut out).unwrap();
    }
    // The final chunk is withheld until the client's body has fully verified.
    assert!(out.len() < body.len());
    st.finish(&mut out).unwrap();
    assert_eq!(&out[..], &body[..]);

    // Under another key and seed, the backend's verifier accepts the result.
    let other_key = signing_key("backend-secret", "20130524", "eu-west-1", "s3");
    let other = ChunkVerifier {
        signing_key: other_key,
        amz_date: AMZ_DATE.into(),
        scope: "20130524/eu-west-1/s3/aws4_request".into(),
        seed_signature: "11".repeat(32),
    };
    let mut st = ChunkedStream::rechain(
        signed_decoder(Some(66560)),
        ChunkedSigner::from_verifier(&other),
    )
    .unwrap();
    let mut out = BytesMut::new();
    st.push(&body, &mut out).unwrap();
    st.finish(&mut out).unwrap();
    assert_eq!(out.len(), body.len());
    let mut dec =
        ChunkedDecoder::new(PayloadMode::StreamingSigned, Some(other), None, Some(66560)).unwrap();
    let (data, _) = decode_with(&mut dec, &out, || 333).unwrap();
    assert_eq!(data, vec![b'a'; 66560]);
}

#[test]
fn stream_rechain_signed_trailer() {
    let mut rng = Rng(77);
    let data = random_payload(&mut rng, 9000);
    let alg = ChecksumAlgorithm::Sha256;
    let body = encode_signed_trailer(&data, &mut rng, alg, None);
    let other = ChunkVerifier {
        signing_key: signing_key("backend-secret", "20130524", "us-east-1", "s3"),
        amz_date: AMZ_DATE.into(),
        scope: SCOPE.into(),
        seed_signature: "ab".repeat(32),
    };
    let dec = ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(verifier(SEED)),
        Some(alg),
        Some(9000),
    )
    .unwrap();
    let mut st = ChunkedStream::rechain(dec, ChunkedSigner::from_verifier(&other)).unwrap();
    let mut out = BytesMut::new();
    for p in body.chunks(501) {
        st.push(p, &mut out).unwrap();
    }
    st.finish(&mut out).unwrap();
    assert_eq!(out.len(), body.len());
    let mut dec = ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(other),
        Some(alg),
        Some(9000),
    )
    .unwrap();
    let (decoded, summary) = decode_with(&mut dec, &out, || 64).unwrap();
    assert_eq!(decoded, data);
    assert_eq!(summary.checksum.map(|c| c.0), Some(alg));
}

#[test]
fn stream_plain_and_passthrough_hold_back_the_end() {
    let alg = ChecksumAlgorithm::Crc32;
    let good: &[u8] = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let bad: &[u8] = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";

    let mut st = ChunkedStream::decode(unsigned_decoder(alg, Some(11)));
    let mut out = BytesMut::new();
    st.push(good, &mut out).unwrap();
    assert_eq!(&out[..], b"hello worl");
    st.finish(&mut out).unwrap();
    assert_eq!(&out[..], b"hello world");

    let mut st = ChunkedStream::decode(unsigned_decoder(alg, Some(11)));
    let mut out = BytesMut::new();
    assert!(st.push(bad, &mut out).is_err());
    assert!(st.finish(&mut out).is_err());
    assert!(out.len() < 11, "never the complete body");

    let mut st = ChunkedStream::passthrough(unsigned_decoder(alg, Some(11)));
    let mut out = BytesMut::new();
    for p in good.chunks(5) {
        st.push(p, &mut out).unwrap();
    }
    assert_eq!(&out[..], &good[..good.len() - 1]);
    st.finish(&mut out).unwrap();
    assert_eq!(&out[..], good);

    assert!(ChunkedStream::rechain(
        unsigned_decoder(alg, None),
        ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED)
    )
    .is_err());
}

#[test]
fn garbage_input_never_panics() {
    let mut rng = Rng(1234);
    for _ in 0..500 {
        let len = rng.below(400) as usize;
        let mut body: Vec<u8> = (0..len)
            .map(|_| b"0123456789abcdef;=\r\nchunk-signature:x"[rng.below(37) as usize])
            .collect();
        if rng.below(2) == 0 {
            body.splice(0..0, b"5;chunk-signature=".iter().copied());
        }
        for mode in [
            PayloadMode::StreamingSigned,
            PayloadMode::StreamingUnsignedTrailer,
        ] {
            let trailer =
                (mode == PayloadMode::StreamingUnsignedTrailer).then_some(ChecksumAlgorithm::Crc32);
            let v = (mode == PayloadMode::StreamingSigned).then(|| verifier(SEED));
            let mut dec = ChunkedDecoder::new(mode, v, trailer, None).unwrap();
            let mut out = Vec::new();
            let _ = body.chunks(7).try_for_each(|p| dec.feed(p, &mut out));
            let _ = dec.finish();
        }
    }
}

/// Deferred hashing (issue 13, the hashing pipeline of `proxy::chunk_hashing`): a stream whose
/// chunks are hashed elsewhere and released in order produces the same bytes as the inline one,
/// for the AWS example fed at any step, in both the re-chained and the decoded mode.
#[test]
fn deferred_hashing_matches_inline_output() {
    let body = aws_example_body();
    for step in [1usize, 7, 4096, 65600, body.len()] {
        for rechain in [true, false] {
            let new = || {
                if rechain {
                    ChunkedStream::rechain(
                        signed_decoder(Some(66560)),
                        ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED),
                    )
                    .unwrap()
                } else {
                    ChunkedStream::decode(signed_decoder(Some(66560)))
                }
            };
            let (mut inline, mut deferred) = (new(), new());
            assert!(deferred.defer_hashing());
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            let mut chunks = Vec::new();
            for piece in body.chunks(step) {
                inline.push(piece, &mut a).unwrap();
                deferred.push_deferred(piece, &mut chunks).unwrap();
                for c in chunks.drain(..) {
                    let h: [u8; 32] = Sha256::digest(&c.data).into();
                    deferred.release(c, &h, &mut b).unwrap();
                }
            }
            inline.finish(&mut a).unwrap();
            deferred.finish(&mut b).unwrap();
            assert_eq!(a, b, "step {step}, rechain {rechain}");
        }
    }
}

/// A deferred chunk is handed out unverified: its check fails on a changed byte or a forged
/// signature (wherever in the chain), the stream is poisoned, and `finish` refuses while a chunk
/// was never released.
#[test]
fn deferred_hashing_rejects_what_inline_rejects() {
    let body = aws_example_body();
    let stream = || {
        let mut s = ChunkedStream::rechain(
            signed_decoder(Some(66560)),
            ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED),
        )
        .unwrap();
        assert!(s.defer_hashing());
        s
    };
    // a byte of the second chunk's data changed: the first chunk releases, the second fails
    let mut tampered = body.clone();
    let pos = tampered.len() - 200;
    tampered[pos] = b'b';
    // the first chunk's signature forged: the first release fails, although the second chunk
    // chains from the forged value and the final chunk (verified inline) agrees with it
    let mut forged = body.clone();
    let sig_at = "10000;chunk-signature=".len();
    forged[sig_at] = if forged[sig_at] == b'0' { b'1' } else { b'0' };
    for (what, input, released_ok) in [("data", &tampered, 1usize), ("signature", &forged, 0)] {
        let mut s = stream();
        let mut chunks = Vec::new();
        let mut out = BytesMut::new();
        // the decoder itself accepts the framing; every chunk comes out unverified
        let fed = s.push_deferred(input, &mut chunks);
        let mut results = Vec::new();
        for c in chunks.drain(..) {
            let h: [u8; 32] = Sha256::digest(&c.data).into();
            results.push(s.release(c, &h, &mut out));
        }
        let ok = results.iter().take_while(|r| r.is_ok()).count();
        assert_eq!(ok, released_ok, "{what}: {results:?} (feed {fed:?})");
        assert!(
            results
                .iter()
                .skip(ok)
                .all(|r| r == &Err(SigError::ChunkSignatureMismatch)),
            "{what}: poisoned after the failure: {results:?}"
        );
        assert!(s.finish(&mut out).is_err(), "{what}");
    }

    // a chunk never released: the body is not complete
    let mut s = stream();
    let mut chunks = Vec::new();
    s.push_deferred(&body, &mut chunks).unwrap();
    assert_eq!(chunks.len(), 2);
    let first = chunks.remove(0);
    let h: [u8; 32] = Sha256::digest(&first.data).into();
    let mut out = BytesMut::new();
    s.release(first, &h, &mut out).unwrap();
    assert_eq!(s.finish(&mut out), Err(SigError::IncompleteBody));

    // a hash that is not the chunk's fails its check
    let mut s = stream();
    s.push_deferred(&body, &mut chunks).unwrap();
    let first = chunks.remove(0);
    assert_eq!(
        s.release(first, &[0u8; 32], &mut BytesMut::new()),
        Err(SigError::ChunkSignatureMismatch)
    );

    // an unsigned body has no deferred mode
    let mut u = ChunkedStream::decode(unsigned_decoder(ChecksumAlgorithm::Crc32, None));
    assert!(!u.defer_hashing());
    assert!(u.push_deferred(b"0\r\n", &mut Vec::new()).is_err());
}

/// A changed data byte in a signed-trailer body breaks both the chunk's signature and the
/// trailing checksum. Inline, the chunk signature fails first (the checksum comes later in the
/// body); deferred, the checksum is read before the chunk's hash is known, so the decoder keeps
/// the checksum failure for `finish` and the release answers as inline does. A checksum that is
/// merely wrong (every chunk genuine) still fails, at `finish`.
#[test]
fn deferred_hashing_reports_chunk_signature_before_trailer_checksum() {
    let mut rng = Rng(21);
    let data = random_payload(&mut rng, 20_000);
    let alg = ChecksumAlgorithm::Crc32;
    let good = encode_signed_trailer(&data, &mut rng, alg, None);
    // the first data byte (after the first chunk's header line)
    let mut tampered = good.clone();
    let at = tampered.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    tampered[at] ^= 1;
    let wrong_sum = encode_signed_trailer(&data, &mut rng, alg, Some("AAAAAA=="));
    let new = || {
        let mut s = ChunkedStream::decode(
            ChunkedDecoder::new(
                PayloadMode::StreamingSignedTrailer,
                Some(verifier(SEED)),
                Some(alg),
                Some(20_000),
            )
            .unwrap(),
        );
        assert!(s.defer_hashing());
        s
    };
    let run = |body: &[u8]| -> Result<(), SigError> {
        let mut s = new();
        let mut chunks = Vec::new();
        let mut out = BytesMut::new();
        // the whole body first, every chunk unverified: the worst order for precedence
        s.push_deferred(body, &mut chunks)?;
        for c in chunks.drain(..) {
            let h: [u8; 32] = Sha256::digest(&c.data).into();
            s.release(c, &h, &mut out)?;
        }
        s.finish(&mut out).map(|_| ())
    };
    assert_eq!(run(&tampered), Err(SigError::ChunkSignatureMismatch));
    assert_eq!(
        run(&wrong_sum),
        Err(SigError::ChecksumMismatch {
            algorithm: "x-amz-checksum-crc32"
        })
    );
    assert_eq!(run(&good), Ok(()));
}
