//! Recording files on a temporary disk: layout, finish, and crashes
//! simulated by abandoning a writer (`mem::forget`: no header update, no
//! buffer flush, like `kill -9`) or by damaging the header.

use super::*;
use time::macros::datetime;

/// `seconds` of stereo audio, each sample distinct from its neighbours.
fn audio(seconds: f64) -> Vec<i16> {
    let n = (seconds * f64::from(RATE)) as usize * 2;
    (0..n).map(|i| (i % 30_000) as i16 - 15_000).collect()
}

fn write(w: &mut RecordingWriter, samples: &[i16]) {
    for frame in samples.chunks(320) {
        w.write_frame(frame).unwrap();
    }
}

fn read_samples(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap();
    assert_eq!(r.spec(), spec());
    r.samples::<i16>().map(Result::unwrap).collect()
}

fn sha256_of(path: &Path) -> String {
    hex(&Sha256::digest(fs::read(path).unwrap()))
}

#[test]
fn hex_of_sha256_matches_sha256sum() {
    // `printf abc | sha256sum`
    assert_eq!(
        hex(&Sha256::digest(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn recordings_go_under_class_and_utc_date_with_a_marker_while_recording() {
    let root = tempfile::tempdir().unwrap();
    // 01:00 in Beijing is 17:00 UTC the day before.
    let started = datetime!(2024-03-06 01:00 +08:00);
    let mut w =
        RecordingWriter::create(root.path(), "complaint", "a1b2/c3@10.0.0.1", started).unwrap();
    let rel = PathBuf::from("complaint/2024/03/05/a1b2_c3@10.0.0.1.wav");
    assert_eq!(w.path(), rel);
    let path = root.path().join(&rel);
    assert!(marker(&path).exists());
    let samples = audio(2.5);
    write(&mut w, &samples);
    assert_eq!(w.duration_ms(), 2500);
    let info = w.finish().unwrap();
    assert!(!marker(&path).exists());
    assert_eq!(info.path, rel);
    assert_eq!(info.duration_ms, 2500);
    assert_eq!(info.size_bytes, 44 + 2500 * 8 * 4);
    assert_eq!(info.size_bytes, fs::metadata(&path).unwrap().len());
    assert_eq!(info.sha256, sha256_of(&path));
    assert_eq!(read_samples(&path), samples);
}

#[test]
fn the_same_call_id_twice_gets_a_second_name() {
    let root = tempfile::tempdir().unwrap();
    let started = datetime!(2024-12-31 23:59:59 UTC);
    let first = RecordingWriter::create(root.path(), "general", "x", started)
        .unwrap()
        .finish()
        .unwrap();
    let second = RecordingWriter::create(root.path(), "general", "x", started).unwrap();
    assert_eq!(first.path, Path::new("general/2024/12/31/x.wav"));
    assert_eq!(second.path(), Path::new("general/2024/12/31/x-2.wav"));
    assert!(RecordingWriter::create(root.path(), "general", "", started).is_err());
}

#[test]
fn an_empty_recording_is_exactly_the_canonical_header() {
    let root = tempfile::tempdir().unwrap();
    let info = RecordingWriter::create(root.path(), "c", "empty", datetime!(2024-01-01 0:00 UTC))
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(fs::read(root.path().join(&info.path)).unwrap(), header(0));
    assert_eq!((info.duration_ms, info.size_bytes), (0, 44));
}

#[test]
fn a_writer_killed_mid_call_leaves_a_wav_playable_up_to_the_last_flush() {
    let root = tempfile::tempdir().unwrap();
    let mut w =
        RecordingWriter::create(root.path(), "c", "crash", datetime!(2024-01-01 0:00 UTC)).unwrap();
    let samples = audio(2.5);
    write(&mut w, &samples);
    let path = root.path().join(w.path());
    std::mem::forget(w);

    // As the crash left it: the header covers the two flushed seconds.
    let flushed = read_samples(&path);
    assert_eq!(flushed, samples[..2 * 8000 * 2]);

    // Start-up keeps every whole frame that reached the disk.
    let fixed = finalise_unfinished(root.path()).unwrap();
    assert_eq!(fixed.len(), 1);
    let info = &fixed[0];
    assert_eq!(info.path, Path::new("c/2024/01/01/crash.wav"));
    assert!((2000..=2500).contains(&info.duration_ms), "{info:?}");
    assert_eq!(info.size_bytes, fs::metadata(&path).unwrap().len());
    assert_eq!((info.size_bytes - 44) % 4, 0);
    assert_eq!(info.sha256, sha256_of(&path));
    let kept = read_samples(&path);
    assert_eq!(kept.len() as u64, (info.size_bytes - 44) / 2);
    assert_eq!(kept, samples[..kept.len()]);
    assert!(!marker(&path).exists());
    assert!(
        finalise_unfinished(root.path()).unwrap().is_empty(),
        "nothing left to fix"
    );
}

#[test]
fn sizes_lost_in_a_crash_are_rebuilt_from_the_file_length() {
    let root = tempfile::tempdir().unwrap();
    let mut w =
        RecordingWriter::create(root.path(), "c", "sizes", datetime!(2024-01-01 0:00 UTC)).unwrap();
    let samples = audio(1.5);
    write(&mut w, &samples);
    let finished = w.finish().unwrap();
    let path = root.path().join(&finished.path);

    // A crash between writing audio and updating the header: sizes as
    // hound first wrote them (zero), half a frame at the end, marker left.
    let mut bytes = fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&[0; 4]);
    bytes[40..44].copy_from_slice(&[0; 4]);
    bytes.extend_from_slice(&[1, 2, 3]);
    fs::write(&path, &bytes).unwrap();
    File::create(marker(&path)).unwrap();

    let fixed = finalise_unfinished(root.path()).unwrap();
    assert_eq!(
        fixed,
        std::slice::from_ref(&finished),
        "byte for byte the file finish wrote"
    );
    assert_eq!(sha256_of(&path), finished.sha256);
    assert_eq!(read_samples(&path), samples);
}

#[test]
fn a_file_shorter_than_a_header_becomes_an_empty_wav() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("c/2024/01/01");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("short.wav"), b"RIFF\0\0").unwrap();
    File::create(dir.join("short.wav.partial")).unwrap();
    // Died between creating the marker and the WAV.
    File::create(dir.join("none.wav.partial")).unwrap();

    let fixed = finalise_unfinished(root.path()).unwrap();
    let paths: Vec<&Path> = fixed.iter().map(|i| i.path.as_path()).collect();
    assert_eq!(
        paths,
        [
            Path::new("c/2024/01/01/none.wav"),
            Path::new("c/2024/01/01/short.wav")
        ]
    );
    for info in &fixed {
        assert_eq!((info.duration_ms, info.size_bytes), (0, 44));
        assert!(read_samples(&root.path().join(&info.path)).is_empty());
    }
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "markers gone");
}

#[test]
fn finalising_leaves_finished_recordings_and_a_missing_root_alone() {
    let root = tempfile::tempdir().unwrap();
    let info = RecordingWriter::create(root.path(), "c", "done", datetime!(2024-01-01 0:00 UTC))
        .unwrap()
        .finish()
        .unwrap();
    assert!(finalise_unfinished(root.path()).unwrap().is_empty());
    assert_eq!(sha256_of(&root.path().join(&info.path)), info.sha256);
    assert!(
        finalise_unfinished(&root.path().join("nowhere"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_odd_number_of_samples_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let mut w =
        RecordingWriter::create(root.path(), "c", "odd", datetime!(2024-01-01 0:00 UTC)).unwrap();
    assert_eq!(
        w.write_frame(&[1, 2, 3]).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}
