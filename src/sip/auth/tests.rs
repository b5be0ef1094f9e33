//! Digest authentication tests: RFC vectors, verdicts, replay, garbage.

use super::*;
use bytesstr::BytesStr;
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::header::typed::{AuthChallenge, DigestChallenge};

const REALM: &str = "hotline.demo";
const URI: &str = "sip:hotline.demo";
const T0: u64 = 1_700_000_000_000;
const TTL_MS: u64 = 300_000;

fn config(algorithms: Vec<Algorithm>) -> DigestAuthConfig {
    DigestAuthConfig {
        realm: REALM.into(),
        nonce_ttl: Duration::from_millis(TTL_MS),
        algorithms,
    }
}

fn server() -> DigestAuth {
    DigestAuth::new(config(vec![Algorithm::Sha256, Algorithm::Md5]), [7; 32])
}

fn users(name: &str) -> Option<Credential> {
    match name {
        "8001" => Some(Credential::Password("s3cret".into())),
        "8002" => Some(Credential::Ha1 {
            md5: Some(digest::ha1(Algorithm::Md5, "8002", REALM, "pw8002").to_ascii_uppercase()),
            sha256: None,
        }),
        _ => None,
    }
}

fn parse_challenge(value: &str) -> DigestChallenge {
    let src = BytesStr::from(value);
    match AuthChallenge::parse(src.as_ref(), &src) {
        Ok(("", AuthChallenge::Digest(d))) => d,
        other => panic!("bad challenge {value}: {other:?}"),
    }
}

/// A nonce and opaque from a fresh challenge at `now`.
fn fresh(auth: &DigestAuth, now: u64, seed: u8) -> (String, String) {
    let c = parse_challenge(&auth.challenge(now, [seed; 16], false)[0]);
    (
        c.nonce.to_string(),
        c.opaque.map(|o| o.to_string()).unwrap_or_default(),
    )
}

/// An Authorization value for a REGISTER to [`URI`].
fn reply(alg: Algorithm, user: &str, password: &str, nonce: &str, nc: u32, opaque: &str) -> String {
    let qop = Some(QopAuth {
        nc,
        cnonce: "0a4f113b",
    });
    let input = DigestInput {
        algorithm: alg,
        username: user,
        realm: REALM,
        nonce,
        method: "REGISTER",
        uri: URI,
        qop,
    };
    authorization_value(&input, password, Some(opaque))
}

/// The right answer from 8001.
fn good(alg: Algorithm, nonce: &str, nc: u32, opaque: &str) -> String {
    reply(alg, "8001", "s3cret", nonce, nc, opaque)
}

fn verify(auth: &mut DigestAuth, now: u64, header: &str) -> Verdict {
    auth.verify(now, "REGISTER", URI, header, users)
}

fn ok(user: &str) -> Verdict {
    Verdict::Ok {
        username: user.into(),
    }
}

#[test]
fn rfc2617_md5_vector() {
    let input = DigestInput {
        algorithm: Algorithm::Md5,
        username: "Mufasa",
        realm: "testrealm@host.com",
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method: "GET",
        uri: "/dir/index.html",
        qop: Some(QopAuth {
            nc: 1,
            cnonce: "0a4f113b",
        }),
    };
    assert_eq!(
        compute_response(&input, "Circle Of Life"),
        "6629fae49393a05397450978507c4ef1"
    );
}

#[test]
fn rfc7616_vectors() {
    let mut input = DigestInput {
        algorithm: Algorithm::Sha256,
        username: "Mufasa",
        realm: "http-auth@example.org",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        method: "GET",
        uri: "/dir/index.html",
        qop: Some(QopAuth {
            nc: 1,
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        }),
    };
    assert_eq!(
        compute_response(&input, "Circle of Life"),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    input.algorithm = Algorithm::Md5;
    assert_eq!(
        compute_response(&input, "Circle of Life"),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
}

#[test]
fn challenges_sha256_first_then_md5() {
    let auth = server();
    let values = auth.challenge(T0, [1; 16], false);
    assert_eq!(values.len(), 2);
    let (a, b) = (parse_challenge(&values[0]), parse_challenge(&values[1]));
    assert_eq!(a.algorithm.to_string(), "SHA-256");
    assert_eq!(b.algorithm.to_string(), "MD5");
    assert_eq!(a.realm, REALM);
    assert_eq!(a.nonce, b.nonce);
    assert!(a.opaque.is_some() && !a.stale);
    assert_eq!(a.qop.len(), 1);
    assert!(values[0].starts_with("Digest realm=\"hotline.demo\", nonce=\""));
    assert!(values[0].ends_with("algorithm=SHA-256, qop=\"auth\""));
    let stale = auth.challenge(T0, [1; 16], true);
    assert!(
        stale
            .iter()
            .all(|v| v.ends_with(", stale=true") && parse_challenge(v).stale)
    );
    // The config's order is kept (duplicates dropped), for phones that
    // only read the first challenge.
    let md5_first = DigestAuth::new(
        config(vec![Algorithm::Md5, Algorithm::Sha256, Algorithm::Md5]),
        [7; 32],
    );
    let values = md5_first.challenge(T0, [1; 16], false);
    assert_eq!(values.len(), 2);
    assert!(values[0].contains("algorithm=MD5,") && values[1].contains("algorithm=SHA-256,"));
}

#[test]
fn md5_and_sha256_succeed() {
    let mut auth = server();
    for (seed, alg) in [(1, Algorithm::Md5), (2, Algorithm::Sha256)] {
        let (nonce, opaque) = fresh(&auth, T0, seed);
        assert_eq!(
            verify(&mut auth, T0 + 10, &good(alg, &nonce, 1, &opaque)),
            ok("8001"),
            "{alg}"
        );
    }
}

#[test]
fn sess_algorithms_only_when_offered() {
    let mut auth = DigestAuth::new(
        config(vec![Algorithm::Sha256Sess, Algorithm::Md5Sess]),
        [3; 32],
    );
    let values = auth.challenge(T0, [1; 16], false);
    assert!(
        values[0].contains("algorithm=SHA-256-sess") && values[1].contains("algorithm=MD5-sess")
    );
    for (seed, alg) in [(1, Algorithm::Md5Sess), (2, Algorithm::Sha256Sess)] {
        let (nonce, opaque) = fresh(&auth, T0, seed);
        assert_eq!(
            verify(&mut auth, T0, &good(alg, &nonce, 1, &opaque)),
            ok("8001"),
            "{alg}"
        );
    }
    let mut plain = server();
    let (nonce, opaque) = fresh(&plain, T0, 1);
    let h = good(Algorithm::Md5Sess, &nonce, 1, &opaque);
    assert_eq!(
        verify(&mut plain, T0, &h),
        Verdict::Denied(DenyReason::AlgorithmNotOffered)
    );
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    let wrong = reply(Algorithm::Md5, "8001", "guess", &nonce, 1, &opaque);
    let unknown = reply(Algorithm::Md5, "9999", "guess", &nonce, 1, &opaque);
    let v1 = verify(&mut auth, T0, &wrong);
    assert_eq!(v1, Verdict::Denied(DenyReason::BadCredentials));
    assert_eq!(v1, verify(&mut auth, T0, &unknown));
    // Also once the nonce has expired: no stale hint for either.
    let later = T0 + TTL_MS + 1;
    assert_eq!(
        verify(&mut auth, later, &wrong),
        verify(&mut auth, later, &unknown)
    );
    assert_eq!(auth.tracked_nonces(), 0);
}

#[test]
fn stored_ha1_works_and_missing_algorithm_is_refused() {
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    let h = reply(Algorithm::Md5, "8002", "pw8002", &nonce, 1, &opaque);
    assert_eq!(verify(&mut auth, T0, &h), ok("8002"));
    let h = reply(Algorithm::Sha256, "8002", "pw8002", &nonce, 2, &opaque);
    assert_eq!(
        verify(&mut auth, T0, &h),
        Verdict::Denied(DenyReason::NoCredentialForAlgorithm)
    );
}

#[test]
fn expired_nonce_is_stale_then_fresh_challenge_works() {
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    let h = good(Algorithm::Sha256, &nonce, 1, &opaque);
    let later = T0 + TTL_MS;
    assert_eq!(verify(&mut auth, later, &h), Verdict::Stale);
    // A clock stepped far back does not make it valid either.
    assert_eq!(verify(&mut auth, T0 - TTL_MS, &h), Verdict::Stale);
    let (nonce, opaque) = fresh(&auth, later, 2);
    assert_eq!(
        verify(
            &mut auth,
            later + 1,
            &good(Algorithm::Sha256, &nonce, 1, &opaque)
        ),
        ok("8001")
    );
}

#[test]
fn forged_or_foreign_nonce_never_authenticates() {
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    // Alter the timestamp (first hex digits) to extend its life.
    let mut forged = nonce.clone();
    forged.replace_range(0..2, if &nonce[0..2] == "ff" { "fe" } else { "ff" });
    // Same nonce format, other secret: as after a restart.
    let other = DigestAuth::new(config(vec![Algorithm::Md5]), [8; 32]);
    let (foreign, _) = fresh(&other, T0, 1);
    let truncated = &nonce[..nonce.len() - 2];
    for n in [forged.as_str(), foreign.as_str(), "abc", truncated] {
        let wrong = reply(Algorithm::Md5, "8001", "guess", n, 1, &opaque);
        let unknown = reply(Algorithm::Md5, "9999", "guess", n, 1, &opaque);
        assert_eq!(
            verify(&mut auth, T0, &wrong),
            Verdict::Denied(DenyReason::BadNonce),
            "{n}"
        );
        assert_eq!(
            verify(&mut auth, T0, &unknown),
            Verdict::Denied(DenyReason::BadNonce),
            "{n}"
        );
        // The password holder is only sent a fresh challenge.
        assert_eq!(
            verify(&mut auth, T0, &good(Algorithm::Md5, n, 1, &opaque)),
            Verdict::Stale,
            "{n}"
        );
    }
    assert_eq!(auth.tracked_nonces(), 0);
    // ezk's parser refuses empty quoted values.
    assert_eq!(
        verify(&mut auth, T0, &good(Algorithm::Md5, "", 1, &opaque)),
        Verdict::Denied(DenyReason::Malformed)
    );
}

#[test]
fn nonce_count_must_increase() {
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    let at = |nc| good(Algorithm::Md5, &nonce, nc, &opaque);
    assert_eq!(verify(&mut auth, T0, &at(1)), ok("8001"));
    assert_eq!(
        verify(&mut auth, T0, &at(1)),
        Verdict::Denied(DenyReason::Replay)
    );
    assert_eq!(verify(&mut auth, T0, &at(2)), ok("8001"));
    assert_eq!(verify(&mut auth, T0, &at(5)), ok("8001"));
    assert_eq!(
        verify(&mut auth, T0, &at(3)),
        Verdict::Denied(DenyReason::Replay)
    );
    assert_eq!(verify(&mut auth, T0, &at(16)), ok("8001"));
    let (other, _) = fresh(&auth, T0, 2);
    assert_eq!(
        verify(&mut auth, T0, &good(Algorithm::Md5, &other, 0, &opaque)),
        Verdict::Denied(DenyReason::Replay)
    );
}

#[test]
fn uppercase_nc_in_hash_is_accepted() {
    // ezk-sip-auth hashes nc as {:08X}; nc=0x1a makes the case matter.
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    let ha1 = digest::ha1(Algorithm::Md5, "8001", REALM, "s3cret");
    let resp = digest::response_from_ha1(
        Algorithm::Md5,
        &ha1,
        &nonce,
        Some(("0000001A", "c")),
        "REGISTER",
        URI,
    );
    let h = format!(
        "Digest username=\"8001\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{URI}\", response=\"{resp}\", algorithm=MD5, opaque=\"{opaque}\", qop=auth, cnonce=\"c\", nc=0000001A"
    );
    assert_eq!(verify(&mut auth, T0, &h), ok("8001"));
}

#[test]
fn mismatches_are_denied() {
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    let good = good(Algorithm::Md5, &nonce, 1, &opaque);
    let cases = [
        (
            good.replace("realm=\"hotline.demo\"", "realm=\"other\""),
            DenyReason::RealmMismatch,
        ),
        (
            good.replace(&format!("opaque=\"{opaque}\""), "opaque=\"x\""),
            DenyReason::OpaqueMismatch,
        ),
        (
            good.replace("algorithm=MD5", "algorithm=SHA-512-256"),
            DenyReason::AlgorithmNotOffered,
        ),
        (good.replace(", qop=auth", ""), DenyReason::QopNotAuth),
        (
            good.replace("qop=auth", "qop=auth-int"),
            DenyReason::QopNotAuth,
        ),
        (good.replace("response=", "resp="), DenyReason::Malformed),
        (good.replace("Digest ", "Basic "), DenyReason::NotDigest),
        (
            good.replace("username=", "username*="),
            DenyReason::UnsupportedUsername,
        ),
        (
            format!("{good}, userhash=true"),
            DenyReason::UnsupportedUsername,
        ),
    ];
    for (h, reason) in cases {
        assert_eq!(verify(&mut auth, T0, &h), Verdict::Denied(reason), "{h}");
    }
    for uri in [
        "sip:other.demo",
        "sip:hotline.demo:5070",
        "sips:hotline.demo",
        "tel:12345",
    ] {
        assert_eq!(
            auth.verify(T0, "REGISTER", uri, &good, users),
            Verdict::Denied(DenyReason::UriMismatch)
        );
    }
    // A different method changes HA2.
    assert_eq!(
        auth.verify(T0, "INVITE", URI, &good, users),
        Verdict::Denied(DenyReason::BadCredentials)
    );
    // Nothing above consumed the nonce; the lowercase scheme is accepted too.
    assert_eq!(
        verify(&mut auth, T0, &good.replacen("Digest", "digest", 1)),
        ok("8001")
    );
}

#[test]
fn uri_compare_is_loose_on_params_case_and_default_port() {
    assert!(parse::uri_matches("sip:hotline.demo", "sip:hotline.demo"));
    assert!(parse::uri_matches(
        "sip:HOTLINE.demo;transport=udp",
        "sip:hotline.demo:5060"
    ));
    assert!(parse::uri_matches(
        "sip:12345@10.0.0.1:5060;user=phone",
        "sip:12345@10.0.0.1"
    ));
    assert!(!parse::uri_matches(
        "sip:12345@10.0.0.1",
        "sip:12346@10.0.0.1"
    ));
    // SIPp style: no user in the digest-uri; the reverse is refused.
    assert!(parse::uri_matches(
        "sip:10.0.0.1:5060",
        "sip:12345@10.0.0.1:5060"
    ));
    assert!(!parse::uri_matches(
        "sip:12345@10.0.0.1:5060",
        "sip:10.0.0.1:5060"
    ));
    assert!(!parse::uri_matches(
        "sip:10.0.0.2:5060",
        "sip:12345@10.0.0.1:5060"
    ));
    assert!(!parse::uri_matches("tel:12345", "tel:12346"));
    assert!(parse::uri_matches("tel:12345", " tel:12345 "));
}

#[test]
fn sipp_style_header_is_accepted() {
    let mut auth = server();
    let (nonce, _) = fresh(&auth, T0, 9);
    let uri = "sip:127.0.0.1:5060";
    let input = DigestInput {
        algorithm: Algorithm::Md5,
        username: "8001",
        realm: REALM,
        nonce: &nonce,
        method: "REGISTER",
        uri,
        qop: Some(QopAuth {
            nc: 1,
            cnonce: "6b8b4567",
        }),
    };
    let response = compute_response(&input, "s3cret");
    let h = format!(
        "Digest username=\"8001\",realm=\"hotline.demo\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:5060\",nonce=\"{nonce}\",response=\"{response}\",algorithm=MD5"
    );
    assert_eq!(auth.verify(T0 + 5, "REGISTER", uri, &h, users), ok("8001"));
}

/// Captured from SIPp 3.6.1 (`[authentication username=8001
/// password=s3cret]`) answering `challenge(T0, [9; 16], false)` of a
/// MD5-only server with secret [7; 32], on 127.0.0.1:5099.
#[test]
fn real_sipp_361_header_verifies() {
    let mut auth = DigestAuth::new(config(vec![Algorithm::Md5]), [7; 32]);
    let h = "Digest username=\"8001\",realm=\"hotline.demo\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:5099\",nonce=\"0000018bcfe5680009090909090909090909090909090909b57055e98355a94ddb2f339d01978dce\",response=\"920ff946f64cd08460a3aeaa0f15149f\",algorithm=MD5,opaque=\"edc4a2944ef4664b\"";
    assert_eq!(
        auth.verify(T0 + 40, "REGISTER", "sip:127.0.0.1:5099", h, users),
        ok("8001")
    );
    assert_eq!(
        auth.verify(T0 + 50, "REGISTER", "sip:127.0.0.1:5099", h, users),
        Verdict::Denied(DenyReason::Replay)
    );
    // Its INVITE to sip:12345@127.0.0.1:5099 signs uri="sip:127.0.0.1:5099".
    let h = "Digest username=\"8001\",realm=\"hotline.demo\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:5099\",nonce=\"0000018bcfe5680009090909090909090909090909090909b57055e98355a94ddb2f339d01978dce\",response=\"b48930907a7e856a48abf1a64e727a4c\",algorithm=MD5,opaque=\"edc4a2944ef4664b\"";
    let mut auth = DigestAuth::new(config(vec![Algorithm::Md5]), [7; 32]);
    assert_eq!(
        auth.verify(T0, "INVITE", "sip:12345@127.0.0.1:5099", h, users),
        ok("8001")
    );
}

#[test]
fn tracked_nonces_are_bounded_and_pruned() {
    let mut auth = DigestAuth::with_max_tracked_nonces(config(vec![Algorithm::Md5]), [5; 32], 4);
    let mut used = Vec::new();
    for i in 0..6u8 {
        let now = T0 + u64::from(i) * 1000;
        let (nonce, opaque) = fresh(&auth, now, i);
        let h = good(Algorithm::Md5, &nonce, 1, &opaque);
        assert_eq!(verify(&mut auth, now, &h), ok("8001"));
        assert!(auth.tracked_nonces() <= 4);
        used.push(h);
    }
    // The first nonce was forgotten: its replay is stale, never accepted.
    assert_eq!(verify(&mut auth, T0 + 6000, &used[0]), Verdict::Stale);
    assert_eq!(
        verify(&mut auth, T0 + 6000, &used[5]),
        Verdict::Denied(DenyReason::Replay)
    );
    // Expired entries go by themselves on a later verify...
    let later = T0 + 5000 + TTL_MS;
    let (nonce, opaque) = fresh(&auth, later, 9);
    assert_eq!(
        verify(&mut auth, later, &good(Algorithm::Md5, &nonce, 1, &opaque)),
        ok("8001")
    );
    assert_eq!(auth.tracked_nonces(), 1);
    // ...or when the driver prunes.
    auth.prune(later + TTL_MS);
    assert_eq!(auth.tracked_nonces(), 0);
}

#[test]
fn garbage_never_panics_or_authenticates() {
    let mut auth = server();
    let (nonce, opaque) = fresh(&auth, T0, 1);
    let good = good(Algorithm::Md5, &nonce, 1, &opaque);
    let mut inputs: Vec<String> = good
        .char_indices()
        .map(|(i, _)| good[..i].to_string())
        .collect();
    inputs.extend(good.char_indices().map(|(i, _)| good[i..].to_string()));
    let alphabet: Vec<char> = "Digest =\",\\'\t\r\n;:@<>abcdefnorsu0123456789\u{0}é漢"
        .chars()
        .collect();
    let mut rng = crate::testutil::Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let len = (rng.next() % 80) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
            .collect();
        inputs.push(format!("Digest {s}"));
        let mut mutated: Vec<char> = good.chars().collect();
        let at = (rng.next() as usize) % mutated.len();
        mutated[at] = alphabet[(rng.next() as usize) % alphabet.len()];
        inputs.push(mutated.into_iter().collect());
    }
    inputs.push("x".repeat(100_000));
    let mut oks = 0;
    for input in &inputs {
        // Only the intact header (the whole-string "suffix") may pass, and
        // only once: its nc is consumed.
        if let Verdict::Ok { username } = verify(&mut auth, T0, input) {
            assert_eq!(username, "8001", "{input}");
            oks += 1;
        }
        let _ = auth.verify(T0, "REGISTER", input, &good, users);
    }
    assert!(oks <= 1, "{oks} garbage inputs authenticated");
}
