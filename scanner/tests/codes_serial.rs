//! Serial code reader through a real pseudo-terminal: the reader opens the slave side by path,
//! exactly as it opens `/dev/serial/by-id/…` on a kiosk, and the test plays the QR reader on the
//! master side.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use motcua_scanner::codes::{ReaderEvent, SerialConfig, SerialReader, Terminator};
use serialport::{SerialPort, TTYPort};

const GAP: Duration = Duration::from_millis(150);
/// Comfortably longer than `GAP`, so a deliberate pause is always taken as a cut.
const PAUSE: Duration = Duration::from_millis(600);
const MAX_LEN: usize = 200;

fn pty() -> (TTYPort, TTYPort, PathBuf) {
    let (mut master, slave) = TTYPort::pair().expect("a pseudo-terminal pair");
    master
        .set_timeout(Duration::from_secs(10))
        .expect("master timeout");
    let name = slave.name().expect("slave has a path");
    (master, slave, PathBuf::from(name))
}

fn link(link: &Path, target: &Path) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).expect("symlink to the pty");
}

fn config(path: &Path) -> SerialConfig {
    let mut c = SerialConfig::new(path);
    c.terminator = Terminator::Cr;
    c.max_len = MAX_LEN;
    c.gap = GAP;
    c.reconnect_every = Duration::from_millis(50);
    c
}

async fn next(reader: &mut SerialReader) -> ReaderEvent {
    tokio::time::timeout(Duration::from_secs(20), reader.next())
        .await
        .expect("an event within 20 s")
        .expect("reader still running")
}

async fn wait_connected(reader: &mut SerialReader) {
    loop {
        match next(reader).await {
            ReaderEvent::Connected => return,
            ReaderEvent::Disconnected(_) => {}
            ReaderEvent::Code(p) => panic!("unexpected code {p:?} before connecting"),
        }
    }
}

/// What the fake QR reader sends: either bytes in one go, or a pause (which cuts the line
/// being sent, if any).
enum Chunk {
    Bytes(Vec<u8>),
    Pause,
}

fn payload(i: usize) -> String {
    match i % 5 {
        0 => format!(
            "000.17.22.H56-261123-{:04}|1.001193|Giấy tiếp nhận hồ sơ",
            i % 9999 + 1
        ),
        1 => motcua_domain::cccd::SAMPLE_PAYLOAD.to_owned(),
        2 => format!(
            "MOTCUA-SEP1|000.17.22.H56-261123-0001|{}|Tờ khai số {i}",
            i % 7 + 1
        ),
        3 => format!("https://dichvucong.gov.vn/p/{i}"),
        _ => format!("Đăng ký khai sinh #{i} — ữ ặ ỹ"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_payloads_arrive_in_order_and_nothing_else() {
    let (mut master, _slave, slave_path) = pty();
    let mut reader = SerialReader::spawn(config(&slave_path)).expect("valid settings");
    wait_connected(&mut reader).await;

    let mut expected = Vec::new();
    let mut chunks = Vec::new();
    let (mut garbage, mut overlong, mut partial) = (0u64, 0u64, 0u64);
    let mut stream = Vec::new();
    for i in 0..1000 {
        let p = payload(i);
        assert!(p.len() <= MAX_LEN);
        stream.extend_from_slice(p.as_bytes());
        stream.push(b'\r');
        expected.push(p);
        match i % 50 {
            7 => {
                stream.extend_from_slice(b"bad \xff\xfe utf-8\r");
                garbage += 1;
            }
            13 => {
                stream.extend_from_slice("bell \u{7} inside\r".as_bytes());
                garbage += 1;
            }
            17 => {
                stream.extend_from_slice("lone LF\nthen CR\r".as_bytes());
                garbage += 1;
            }
            19 => {
                stream.extend_from_slice("C1 control \u{85} in UTF-8\r".as_bytes());
                garbage += 1;
            }
            23 => {
                stream.extend(std::iter::repeat_n(b'x', MAX_LEN + 1));
                stream.push(b'\r');
                overlong += 1;
            }
            29 => {
                stream.extend(std::iter::repeat_n(b'y', 3 * MAX_LEN));
                stream.extend_from_slice("ê\r".as_bytes());
                overlong += 1;
            }
            31 => {
                // Exactly at the limit is fine.
                let p = "z".repeat(MAX_LEN);
                stream.extend_from_slice(p.as_bytes());
                stream.push(b'\r');
                expected.push(p);
            }
            37 => stream.extend_from_slice(b"\r\r"), // bare terminators: ignored, not counted
            _ => {}
        }
        if i % 200 == 101 {
            // A code cut off mid-way (cable jiggled): half of it, then silence.
            stream.extend_from_slice(&payload(i).as_bytes()[..20]);
            chunks.push(Chunk::Bytes(std::mem::take(&mut stream)));
            chunks.push(Chunk::Pause);
            partial += 1;
        }
    }
    // A last code without its terminator, cut by silence too.
    stream.extend_from_slice(b"never finished");
    chunks.push(Chunk::Bytes(std::mem::take(&mut stream)));
    chunks.push(Chunk::Pause);
    partial += 1;

    let writer = std::thread::spawn(move || {
        for chunk in chunks {
            match chunk {
                Chunk::Bytes(b) => {
                    // Odd-sized writes, so that lines straddle reads.
                    for piece in b.chunks(333) {
                        master.write_all(piece).expect("write to the pty");
                    }
                }
                Chunk::Pause => std::thread::sleep(PAUSE),
            }
        }
        master
    });

    let mut received = Vec::new();
    while received.len() < expected.len() {
        match next(&mut reader).await {
            ReaderEvent::Code(p) => received.push(p.into_string()),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let _master = writer.join().expect("writer thread");
    assert_eq!(received.len(), expected.len());
    for (i, (r, e)) in received.iter().zip(&expected).enumerate() {
        assert_eq!(r, e, "payload {i}");
    }
    // Let the last pause be noticed, then check that nothing else came and every drop counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    while reader.stats().partial < partial && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = reader.stats();
    assert_eq!(stats.delivered, expected.len() as u64);
    assert_eq!(stats.garbage, garbage);
    assert_eq!(stats.overlong, overlong);
    assert_eq!(stats.partial, partial);
    assert_eq!(stats.reconnects, 0);
    // Every counter is final (the last pause was seen): nothing else may be waiting. A zero
    // timeout polls the queue once, so this checks what is there, not how long we waited.
    assert!(
        tokio::time::timeout(Duration::ZERO, reader.next())
            .await
            .is_err(),
        "no further event"
    );
    reader.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_comes_back_after_an_unplug() {
    let dir = tempfile::tempdir().unwrap();
    let by_id = dir.path().join("usb-Vendor_QR_Reader-if00");
    // Start before the device exists, like a kiosk booting with the reader unplugged.
    let mut reader = SerialReader::spawn(config(&by_id)).unwrap();
    match next(&mut reader).await {
        ReaderEvent::Disconnected(e) => {
            let msg = e.to_string();
            assert!(msg.contains("usb-Vendor_QR_Reader-if00"), "{msg}");
            assert!(msg.contains("cannot open"), "{msg}");
        }
        other => panic!("expected a missing-device report, got {other:?}"),
    }

    let (mut master, slave, path) = pty();
    link(&by_id, &path);
    wait_connected(&mut reader).await;
    master.write_all("trước khi rút\r".as_bytes()).unwrap();
    match next(&mut reader).await {
        ReaderEvent::Code(p) => assert_eq!(p.as_str(), "trước khi rút"),
        other => panic!("{other:?}"),
    }
    // Half a code, read by the reader, then the cable is pulled.
    master.write_all(b"half a co").unwrap();
    tokio::time::sleep(GAP / 3).await;
    drop(master);
    drop(slave);
    match next(&mut reader).await {
        ReaderEvent::Disconnected(e) => {
            assert!(e.to_string().contains("stopped working"), "{e}")
        }
        other => panic!("expected the loss to be reported, got {other:?}"),
    }

    // Plugged back in: a new device node behind the same by-id link.
    let (mut master, _slave, path) = pty();
    link(&by_id, &path);
    wait_connected(&mut reader).await;
    master.write_all("sau khi cắm lại\r".as_bytes()).unwrap();
    match next(&mut reader).await {
        ReaderEvent::Code(p) => assert_eq!(p.as_str(), "sau khi cắm lại"),
        other => panic!("{other:?}"),
    }
    let stats = reader.stats();
    assert_eq!(stats.delivered, 2);
    assert_eq!(stats.partial, 1, "the half code was dropped, not delivered");
    assert_eq!(stats.reconnects, 1);
    reader.stop();
}

#[test]
fn unusable_settings_are_refused_with_the_device_named() {
    let mut c = SerialConfig::new("/dev/ttyACM7");
    c.max_len = 0;
    let err = SerialReader::spawn(c).unwrap_err().to_string();
    assert!(
        err.contains("/dev/ttyACM7") && err.contains("maximum payload length"),
        "{err}"
    );
    let mut c = SerialConfig::new("/dev/ttyACM7");
    c.terminator = Terminator::Byte(0xC3);
    assert!(SerialReader::spawn(c).is_err());
}
