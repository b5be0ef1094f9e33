//! A call's media over real sockets on loopback, on the RTP workers.

use super::*;
use crate::media::codec::Codec;
use crate::media::rtp::{self, OutStream};
use std::time::Duration;
use tokio::net::UdpSocket;

async fn sock() -> (LegSockets, u16) {
    let leg = LegSockets::bind([127, 0, 0, 1].into(), 0).unwrap();
    let port = leg.port;
    (leg, port)
}

/// Real sockets on loopback: a caller hears music, is bridged to an
/// agent, and the call leaves a stereo WAV with both voices.
#[tokio::test]
async fn a_call_over_real_sockets_relays_audio_and_leaves_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (caller_sock, caller_port) = sock().await;
    let (agent_sock, agent_port) = sock().await;
    let (caller_phone, agent_phone) = (
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
    );
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let mut workers = RtpWorkers::start(2, Recordings::start(1), ev_tx).unwrap();
    let h = workers.spawn("call-1".into(), caller_sock, agent_sock);
    let cfg = |remote| LegConfig {
        codec: Codec::Pcma,
        pt: 8,
        telephone_event: Some(101),
        remote,
        rtcp: None,
        send: true,
    };
    // The caller's SDP names its RTCP socket (a=rtcp:).
    let caller_rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    h.send(MediaCmd::SetLeg(
        Leg::Caller,
        LegConfig {
            rtcp: Some(caller_rtcp.local_addr().unwrap()),
            ..cfg(caller_phone.local_addr().unwrap())
        },
    ));
    h.send(MediaCmd::SetLeg(
        Leg::Agent,
        cfg(agent_phone.local_addr().unwrap()),
    ));
    h.send(MediaCmd::StartRecording(RecordingTarget {
        root: dir.path().into(),
        class: "non_emergency".into(),
        call_id: "call-1".into(),
        started: time::OffsetDateTime::now_utc(),
    }));
    h.send(MediaCmd::Play {
        clips: vec![],
        then_loop: Some(Clip::new("music", vec![2000; 160])),
    });
    let mut buf = [0u8; 2048];
    // 200 ms of music, then the agent answers.
    for _ in 0..10 {
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(2), caller_phone.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            from.port(),
            caller_port,
            "music comes from the caller leg's port"
        );
        let p = rtp::parse(&buf[..n]).unwrap();
        assert_eq!(
            (p.pt, buf[p.payload_at]),
            (8, Codec::Pcma.encode_sample(2000))
        );
    }
    h.send(MediaCmd::Bridge);
    let (mut c_out, mut a_out) = (OutStream::new(1, 0, 0), OutStream::new(2, 0, 0));
    let mut pkt = Vec::new();
    let start = std::time::Instant::now();
    for i in 0..25u32 {
        let at = start + Duration::from_millis(20 * i as u64);
        c_out.generated(at, 8, &[Codec::Pcma.encode_sample(1000); 160], &mut pkt);
        caller_phone
            .send_to(&pkt, ("127.0.0.1", caller_port))
            .await
            .unwrap();
        a_out.generated(at, 8, &[Codec::Pcma.encode_sample(-1000); 160], &mut pkt);
        agent_phone
            .send_to(&pkt, ("127.0.0.1", agent_port))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The agent heard the caller through hotline.
    let mut heard = false;
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(200), agent_phone.recv_from(&mut buf)).await
    {
        let p = rtp::parse(&buf[..n]).unwrap();
        heard |= buf[p.payload_at] == Codec::Pcma.encode_sample(1000);
    }
    assert!(heard, "caller audio relayed to the agent");
    h.send(MediaCmd::Close);
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), ev_rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            MediaEvent::Closed(c) => break (c.recording, c.caller, c.ports),
            _ => continue,
        }
    };
    let (recording, caller, ports) = closed;
    assert_eq!(ports, [caller_port, agent_port]);
    // The caller leg's last RTCP went to its a=rtcp address, ending in a BYE (PT 203).
    let mut last = None;
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(100), caller_rtcp.recv_from(&mut buf)).await
    {
        last = Some(buf[..n].to_vec());
    }
    let last = last.expect("RTCP on the caller's a=rtcp address");
    assert!(
        last.windows(2).any(|w| w == [0x81, 203]),
        "a BYE of one source: {last:02x?}"
    );
    assert_eq!(caller.unwrap().received.packets, 25);
    let info = recording.unwrap().unwrap();
    assert!(info.duration_ms >= 500, "{info:?}");
    let mut reader = hound::WavReader::open(dir.path().join(&info.path)).unwrap();
    assert_eq!(
        (reader.spec().channels, reader.spec().sample_rate),
        (2, 8000)
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let (left, right): (Vec<i16>, Vec<i16>) = samples.chunks(2).map(|c| (c[0], c[1])).unzip();
    assert!(
        left.iter().any(|v| (v - 1000).abs() < 64),
        "the caller on the left"
    );
    assert!(
        right.iter().any(|v| (v + 1000).abs() < 64),
        "the agent on the right"
    );
    assert!(
        right.iter().any(|v| (v - 2000).abs() < 64),
        "the music before the bridge on the right"
    );
}

/// Calls spread over the workers; stopping the workers (hotline shutting
/// down) mid-call still leaves finished recordings, not `.partial` ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_workers_mid_call_finishes_every_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (ev_tx, _ev_rx) = mpsc::unbounded_channel();
    let recordings = Recordings::start(1);
    let mut workers = RtpWorkers::start(2, recordings, ev_tx).unwrap();
    assert_eq!(workers.threads(), 2);
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = LegConfig {
        codec: Codec::Pcma,
        pt: 8,
        telephone_event: None,
        remote: phone.local_addr().unwrap(),
        rtcp: None,
        send: true,
    };
    let mut handles = Vec::new();
    let mut ports = Vec::new();
    for i in 0..4 {
        let (caller, port) = sock().await;
        let (agent, _) = sock().await;
        let h = workers.spawn(format!("call-{i}").into(), caller, agent);
        h.send(MediaCmd::SetLeg(Leg::Caller, cfg.clone()));
        h.send(MediaCmd::StartRecording(RecordingTarget {
            root: dir.path().into(),
            class: "non_emergency".into(),
            call_id: format!("call-{i}"),
            started: time::OffsetDateTime::now_utc(),
        }));
        handles.push(h);
        ports.push(port);
    }
    assert_eq!(
        workers
            .links
            .iter()
            .map(|l| l.calls.load(Ordering::Relaxed))
            .collect::<Vec<_>>(),
        [2, 2],
        "least-loaded placement"
    );
    let mut out = OutStream::new(9, 0, 0);
    let mut pkt = Vec::new();
    let start = std::time::Instant::now();
    for n in 0..15u64 {
        for port in &ports {
            out.generated(
                start + Duration::from_millis(20 * n),
                8,
                &[Codec::Pcma.encode_sample(1000); 160],
                &mut pkt,
            );
            phone.send_to(&pkt, ("127.0.0.1", *port)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(workers);
    drop(handles);
    let files = |ext: &str| {
        let mut found = Vec::new();
        let mut dirs = vec![dir.path().to_path_buf()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.to_string_lossy().ends_with(ext) {
                    found.push(p);
                }
            }
        }
        found
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !files(".partial").is_empty() || files(".wav").len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "recordings still unfinished: {:?}",
            files("")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for wav in files(".wav") {
        let reader = hound::WavReader::open(&wav).unwrap();
        assert!(
            reader.duration() >= 8000 / 10,
            "{}: {} samples",
            wav.display(),
            reader.duration()
        );
    }
}
