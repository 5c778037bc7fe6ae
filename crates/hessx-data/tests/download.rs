//! The download path against a local HTTP server on 127.0.0.1 (no external
//! network): resuming with HTTP Range, servers that ignore Range, bad bytes,
//! and the message when nothing answers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use hessx_data::ArchiveSpec;
use hessx_data::testkit::Fixture;

/// How the test server misbehaves.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Close the first connection after this many body bytes.
    cut_first_after: Option<usize>,
    /// Answer 200 with the whole file even when a range is asked for.
    ignore_range: bool,
}

/// Serve `body` for up to `connections` requests; returns the URL and the
/// `Range` header of each request (empty when none).
fn serve(body: Vec<u8>, connections: usize, behaviour: Behaviour) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/archive.bin", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for (k, stream) in listener.incoming().take(connections).enumerate() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut range = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range:") {
                    range = v.trim().to_owned();
                }
            }
            log.lock().unwrap().push(range.clone());
            let start: usize = range.strip_prefix("bytes=").and_then(|r| r.trim_end_matches('-').parse().ok()).unwrap_or(0);
            let (status, start) = if start > 0 && !behaviour.ignore_range { ("206 Partial Content", start) } else { ("200 OK", 0) };
            let part = &body[start..];
            let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", part.len());
            if start > 0 {
                head.push_str(&format!("Content-Range: bytes {start}-{}/{}\r\n", body.len() - 1, body.len()));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            let send = match behaviour.cut_first_after {
                Some(cut) if k == 0 => &part[..cut],
                _ => part,
            };
            let _ = stream.write_all(send);
            let _ = stream.flush();
        }
    });
    (url, seen)
}

fn payload() -> Vec<u8> {
    (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn spec_for<'a>(fixture: &'a Fixture, url: &'a str) -> ArchiveSpec<'a> {
    fixture.spec("archive.tar.gz", url)
}

fn fixture_of(dir: &std::path::Path, bytes: &[u8]) -> Fixture {
    let path = dir.join("reference.bin");
    std::fs::write(&path, bytes).unwrap();
    Fixture::of(&path).unwrap()
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload();
    let fixture = fixture_of(dir.path(), &body);
    let (url, seen) = serve(body.clone(), 2, Behaviour { cut_first_after: Some(120_000), ignore_range: false });
    let spec = spec_for(&fixture, &url);
    let downloads = dir.path().join("downloads");

    let err = spec.download(&downloads, false).unwrap_err().to_string();
    assert!(err.contains(&url) && err.contains("resume"), "{err}");
    let part = downloads.join("archive.tar.gz.part");
    let have = std::fs::metadata(&part).unwrap().len();
    assert!(have > 0 && have <= 120_000, "kept {have} bytes");

    let path = spec.download(&downloads, false).unwrap();
    assert_eq!(path, downloads.join("archive.tar.gz"));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert!(!part.exists());
    assert_eq!(*seen.lock().unwrap(), vec![String::new(), format!("bytes={have}-")]);

    // Complete and verified: no request at all (the server has stopped listening).
    assert_eq!(spec.download(&downloads, false).unwrap(), path);
}

#[test]
fn a_server_that_ignores_range_restarts_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload();
    let fixture = fixture_of(dir.path(), &body);
    let (url, seen) = serve(body.clone(), 2, Behaviour { cut_first_after: Some(50_000), ignore_range: true });
    let spec = spec_for(&fixture, &url);
    let downloads = dir.path().join("downloads");
    assert!(spec.download(&downloads, false).is_err());
    let path = spec.download(&downloads, false).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert!(seen.lock().unwrap()[1].starts_with("bytes="));
}

#[test]
fn wrong_bytes_are_refused_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let body = payload();
    let fixture = fixture_of(dir.path(), &body);
    let mut served = body.clone();
    served[1000] ^= 1;
    let (url, _) = serve(served, 1, Behaviour { cut_first_after: None, ignore_range: false });
    let downloads = dir.path().join("downloads");
    let err = spec_for(&fixture, &url).download(&downloads, false).unwrap_err().to_string();
    assert!(err.contains("SHA-256") && err.contains("archive.tar.gz.part"), "{err}");
    assert!(!downloads.join("archive.tar.gz.part").exists() && !downloads.join("archive.tar.gz").exists());
}

#[test]
fn no_network_says_what_to_download_and_where_to_put_it() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_of(dir.path(), b"abc");
    // Nothing listens on port 1 of the loopback interface.
    let url = "http://127.0.0.1:1/cifar-10-binary.tar.gz";
    let downloads = dir.path().join("data/downloads");
    let err = fixture.spec("cifar-10-binary.tar.gz", url).download(&downloads, false).unwrap_err().to_string();
    assert!(err.contains("download it by hand from http://127.0.0.1:1/cifar-10-binary.tar.gz"), "{err}");
    assert!(err.contains("data/downloads/cifar-10-binary.tar.gz") && err.contains("--from"), "{err}");
}
