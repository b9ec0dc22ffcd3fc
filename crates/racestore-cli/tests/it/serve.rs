//! `racestore serve` as a process: killed with SIGKILL during a storm of POSTed laps, every lap
//! whose POST was answered 2xx is in the store after a restart, and the store checks sound;
//! SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{json_url, racestore, run_ok, sqlite_url};

/// The server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `racestore serve` on a free port and reads the address it printed (10 s at most).
fn start(url: &str) -> Server {
    let mut child = racestore()
        .args(["--store", url, "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("racestore serve starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("racestore serve printed its address within 10 s");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    Server { child, addr }
}

/// One request; the status and body, or the I/O error of a server that went away.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let status = reply
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("a torn reply: {reply:?}")))?;
    Ok((
        status,
        reply.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned(),
    ))
}

fn acknowledged_laps_survive_kill_9(url: &str) {
    let server = start(url);
    let (status, body) = http(
        server.addr,
        "POST",
        "/api/v1/sessions",
        r#"{"circuit": "Barber", "date": "2025-09-06"}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");

    // Four clients POST laps (one, or batches of 5) until the server dies; each keeps the
    // (driver, lap number) of every lap a 2xx answered, with the id it got.
    let acknowledged = Arc::new(Mutex::new(Vec::<(i64, String, i64)>::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (acknowledged, answered, stop, addr) = (acknowledged.clone(), answered.clone(), stop.clone(), server.addr);
            std::thread::spawn(move || {
                let driver = format!("car-{client}");
                let mut lap_number = 0;
                for round in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let size = if round % 2 == 0 { 1 } else { 5 };
                    let laps: Vec<Value> = (0..size)
                        .map(|i| json!({"driver_id": driver, "lap_number": lap_number + i + 1, "lap_time": 97.0 + f64::from(i as i32) / 10.0, "lap_type": "RACE_LAP"}))
                        .collect();
                    match http(addr, "POST", "/api/v1/sessions/1/laps", &Value::from(laps).to_string()) {
                        Ok((201, body)) => {
                            let ids: Value = serde_json::from_str(&body).unwrap();
                            let ids = ids["ids"].as_array().unwrap();
                            assert_eq!(ids.len(), size as usize);
                            let mut acknowledged = acknowledged.lock().unwrap();
                            for (i, id) in ids.iter().enumerate() {
                                acknowledged.push((id.as_i64().unwrap(), driver.clone(), lap_number + i as i64 + 1));
                            }
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok((status, body)) => panic!("POST answered {status}: {body}"),
                        // The server was killed: this request's laps were not acknowledged.
                        Err(_) => break,
                    }
                    lap_number += size;
                }
            })
        })
        .collect();
    // Mid-storm: after 300 acknowledged requests, SIGKILL (no chance to flush or close).
    let started = std::time::Instant::now();
    while answered.load(Ordering::Relaxed) < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the storm did not reach 300 requests in 60 s"
        );
        std::thread::yield_now();
    }
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300, "{url}");

    // Restarted on the same store: every acknowledged lap is there, as acknowledged.
    let server = start(url);
    let mut stored = std::collections::BTreeMap::new();
    let mut after = 0;
    loop {
        let (status, body) = http(
            server.addr,
            "GET",
            &format!("/api/v1/sessions/1/laps?after_id={after}&limit=10000"),
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        for lap in page["laps"].as_array().unwrap() {
            stored.insert(
                lap["id"].as_i64().unwrap(),
                (
                    lap["driver_id"].as_str().unwrap().to_owned(),
                    lap["lap_number"].as_i64().unwrap(),
                ),
            );
        }
        match page["next_after_id"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    for (id, driver, lap_number) in &acknowledged {
        assert_eq!(
            stored.get(id),
            Some(&(driver.clone(), *lap_number)),
            "{url}: acknowledged lap {id} is missing or changed after kill -9"
        );
    }

    // SIGTERM: a graceful stop, exit status 0, the store closed.
    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "{url}: racestore serve exited with {status} on SIGTERM"
    );

    let report = run_ok(racestore().args(["--store", url, "check"]));
    assert!(
        report.contains("no problems: the store is sound"),
        "{url}: {report}"
    );
}

#[test]
fn every_lap_acknowledged_before_kill_9_is_stored_after_a_restart_json() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_laps_survive_kill_9(&json_url(&dir.path().join("storage")));
}

#[test]
fn every_lap_acknowledged_before_kill_9_is_stored_after_a_restart_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_laps_survive_kill_9(&sqlite_url(&dir.path().join("race.db")));
}
